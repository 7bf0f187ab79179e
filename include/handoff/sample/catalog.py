"""The vocabulary of the sample product: industries, departments, titles, events."""

from __future__ import annotations

INDUSTRIES = [
    "SaaS", "Fintech", "E-commerce", "Healthcare", "Education", "Manufacturing",
    "Media", "Retail", "Nonprofit", "Government", "Consulting", "Logistics",
]  # fmt: skip
DEPARTMENTS = [
    "Engineering", "Product", "Marketing", "Sales", "Design", "Operations",
    "Finance", "Data", "Customer Success", "HR",
]  # fmt: skip
IC_TITLES = {
    "Engineering": ["Software Engineer", "Senior Engineer", "Staff Engineer"],
    "Product": ["Product Manager", "Senior Product Manager"],
    "Marketing": ["Marketing Manager", "Growth Marketer", "Content Lead"],
    "Sales": ["Account Executive", "Sales Manager", "SDR"],
    "Design": ["Product Designer", "Design Lead"],
    "Operations": ["Operations Manager", "Program Manager"],
    "Finance": ["Financial Analyst", "Controller"],
    "Data": ["Data Analyst", "Data Engineer", "Analytics Lead"],
    "Customer Success": ["CSM", "Support Lead"],
    "HR": ["People Partner", "Recruiter"],
}
EXEC_TITLES = {
    "Engineering": ["VP Engineering", "CTO"],
    "Product": ["VP Product", "Chief Product Officer"],
    "Marketing": ["VP Marketing", "CMO"],
    "Sales": ["VP Sales", "Chief Revenue Officer"],
    "Design": ["VP Design"],
    "Operations": ["COO", "VP Operations"],
    "Finance": ["CFO", "VP Finance"],
    "Data": ["VP Data", "Chief Data Officer"],
    "Customer Success": ["VP Customer Success"],
    "HR": ["Chief People Officer"],
}
FREEMAIL = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "proton.me"]
FIRST_NAMES = [
    "ada", "alan", "maya", "liam", "noah", "emma", "olivia", "lucas", "mia", "ethan",
    "sofia", "leo", "zoe", "omar", "yuki", "ines", "raj", "lena", "tomas", "amara",
    "chen", "priya", "jonas", "clara", "diego", "nora", "felix", "hana", "ivan", "sara",
]  # fmt: skip
LAST_NAMES = [
    "lovelace", "turing", "patel", "garcia", "kim", "nguyen", "muller", "rossi", "silva",
    "cohen", "okafor", "tanaka", "berg", "novak", "haddad", "larsen", "moreau", "singh",
    "ivanova", "costa", "walsh", "fischer", "sato", "mendes", "adeyemi", "lindqvist",
]  # fmt: skip
NAME_PARTS_A = [
    "north", "blue", "bright", "iron", "cloud", "swift", "clear", "true", "green", "deep",
    "silver", "red", "open", "prime", "quant", "hyper", "nova", "terra", "lumen", "vector",
    "pixel", "atlas", "orbit", "cedar", "harbor", "summit", "signal", "kite", "maple", "zen",
]  # fmt: skip
NAME_PARTS_B = [
    "labs", "works", "soft", "data", "ly", "hub", "stack", "loop", "scale", "grid",
    "forge", "path", "wave", "base", "mind", "flow", "craft", "bit", "sense", "line",
]  # fmt: skip
TLDS = ["com", "io", "co", "ai", "dev", "net"]

CORE_ACTIONS = ["project_created", "report_run", "dashboard_edited", "query_saved"]
BASIC_FEATURES = ["comments", "templates", "search", "filters", "charts", "sharing"]
PREMIUM_FEATURES = [
    "advanced_analytics", "custom_roles", "workflow_automation",
    "version_history", "data_sync", "api_access",
]  # fmt: skip
INTEGRATIONS = ["salesforce", "hubspot", "snowflake", "slack", "github", "bigquery", "jira"]
ENTERPRISE_FEATURES = ["sso", "scim", "audit_logs", "admin_controls"]
USAGE_METRICS = ["projects", "api_calls", "storage", "seats"]
SUPPORT_TOPICS = ["how_to", "bug", "technical", "competitor_comparison"]
BILLING_TOPICS = ["invoicing", "annual_plan", "volume_pricing"]
PLANS = {"free": 3, "team": 10, "business": 50}

EVENT_NAMES = [
    "session_started", "onboarding_completed", "project_created", "report_run",
    "dashboard_edited", "query_saved", "feature_used", "integration_connected",
    "teammate_invited", "invite_accepted", "link_shared_external", "data_exported",
    "api_called", "pricing_viewed", "upgrade_started", "plan_upgraded", "checkout_abandoned",
    "contact_sales_clicked", "enterprise_feature_viewed", "support_ticket_opened",
    "billing_question", "plan_usage_recorded", "workspace_created", "setup_abandoned",
]  # fmt: skip
EVENT_CODE = {name: i for i, name in enumerate(EVENT_NAMES)}
FEATURE_VALUES = sorted(
    set(BASIC_FEATURES + PREMIUM_FEATURES + INTEGRATIONS + ENTERPRISE_FEATURES + USAGE_METRICS
        + SUPPORT_TOPICS + BILLING_TOPICS)
)  # fmt: skip
FEATURE_CODE = {name: i for i, name in enumerate(FEATURE_VALUES)}
