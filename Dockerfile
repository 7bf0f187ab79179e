# Handoff on the official Airflow image: pinned requirements, then the project itself.
FROM apache/airflow:3.3.2-python3.11

USER airflow
COPY --chown=airflow:root requirements.txt /opt/handoff/requirements.txt
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r /opt/handoff/requirements.txt

COPY --chown=airflow:root pyproject.toml README.md /opt/handoff/
COPY --chown=airflow:root include /opt/handoff/include
COPY --chown=airflow:root dags /opt/handoff/dags
COPY --chown=airflow:root plugins /opt/handoff/plugins
RUN pip install --no-cache-dir --no-deps -e /opt/handoff

WORKDIR /opt/handoff
