"""What staff sign-in tells the rest of Keydrop (the audit trail listens). Each carries the request."""

from django.dispatch import Signal

# user, method ("authenticator app" / "recovery code"), purpose ("sign-in" / "reveal"), refused (tries
# of this account from this address turned away while waiting, since the last event)
second_factor_verified = Signal()
# user, reason, refused
second_factor_failed = Signal()
# user, address (masked)
enrolment_link_sent = Signal()
# user
enrolment_link_opened = Signal()
# user
second_factor_enrolled = Signal()
# user, count
recovery_codes_replaced = Signal()
# username, until
sign_in_backoff_started = Signal()
# until, failures, refused: failed sign-ins from one address, to any usernames, reached the hourly limit
address_limit_reached = Signal()
# kind ("access attempt", ...), records: [(username as typed, address, what deleting it did)]
access_records_deleted = Signal()
