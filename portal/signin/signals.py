"""What staff sign-in tells the rest of Keydrop (the audit trail listens). Each carries the request."""

from django.dispatch import Signal

# user, method ("authenticator app" / "recovery code"), purpose ("sign-in" / "reveal")
second_factor_verified = Signal()
# user, reason
second_factor_failed = Signal()
# user
second_factor_enrolled = Signal()
# user, count
recovery_codes_replaced = Signal()
# username, until
sign_in_backoff_started = Signal()
# kind ("access attempt", ...), records: [(username as typed, address, what deleting it did)]
access_records_deleted = Signal()
