"""Everything that talks to Canvas and Instructure, and what their answers mean.

- outbound: the one HTTP client (https only, no redirects, timeouts, size cap, no private address).
- canvas: the requests Keydrop makes (the DAP login, the OAuth2 endpoints) and their answers, parsed.
- answers: the answer tables of each kind's check, row for row as the reference lists them, and the
  one rule: an irreversible step needs an answer that means it.
- grants: the admin's OAuth2 grant of a developer key (S256 PKCE, the callback, revoking);
  grant_tokens: its one access token, refreshed only by Keydrop, one refresh at a time.
"""
