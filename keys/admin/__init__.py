"""Partner staff's admin, one module per concern; importing this package registers them all.

- credentials: the credentials list and page (credential_views: reveal, revoke, export, the partner
  secret; csv_export: the list as CSV; filters: the list filters; forms: their forms).
- dashboard: the expiry dashboard's figures.
- institutions: institutions and their contacts; onboarding: their CSV import and export, and
  starting campaigns from the list; campaigns: each campaign's pages.
- credential_words: the credential's page in words; shared_keys: one key held by two institutions.
- outbox: reminders, check alerts, campaign messages and checks, read-only, each field explained.
- accounts: staff accounts and groups, audited.
- audit: the read-only audit trail.
- pipelines: pipeline tokens, webhook endpoints and their deliveries.
"""

from keys.admin import (  # noqa: F401  (registered on import)
    accounts,
    audit,
    campaigns,
    credentials,
    institutions,
    outbox,
    pipelines,
)
