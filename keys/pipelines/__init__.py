"""Pipelines reach keys without a shell: scoped tokens, the JSON API under /api/v1/, events and webhooks.

- tokens: create, revoke and authenticate pipeline tokens; the per-token rate.
- events: the events pipelines follow, as the API and webhooks show them.
- access: what a token may do with a credential (list, access token, secret), each use audited.
- schemas, api: the API itself (django-ninja), and its OpenAPI document.
- webhooks: endpoints, signing, and the delivery sweep.
"""
