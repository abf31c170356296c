"""What each request of a customer's hand-over asks of the database, pinned: a new query here is a
decision, not an accident (bench/bench_intake.py prints the same counts on a real server).

Statements, leaving out transaction control (SQLite's backend sends BEGIN and COMMIT, PostgreSQL's
driver does): the same counts on both.

- the intake page (GET), 2 for a first hand-over: the institution (with whether it holds any key)
  and its contacts; 3 once it holds keys, which are listed;
- the submission (POST), 10: the institution and the chosen contact, then ONE transaction: a claim
  and at most one insert per flood limit (link, address, contact), the credential, the verification;
- the code page (GET), 1: the submission with its key, institution and contact (every column: an
  `only()` of the few the page shows costs more to build than the columns cost to read);
- the code (POST), 18: the submission, the verifying UPDATE, the key's activation, reminders and
  audit, the check at Canvas with its budget and record, the pipelines' credential.verified event,
  the one indexed look for another holder of the same key, the staff notice and the receipt.
"""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.flows import VALID_DAP_CLIENT_ID, VALID_DAP_SECRET, form_data, last_code

pytestmark = pytest.mark.django_db(transaction=True)
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
VERIFY_POST = 18  # verifying, activation, audit, the check and its record, its event, another holder, the receipt


def queries(call):
    with CaptureQueriesContext(connection) as captured:
        response = call()
    # Transaction control is left out: SQLite's backend sends BEGIN and COMMIT itself, PostgreSQL's driver does.
    sql = [query["sql"] for query in captured.captured_queries]
    return response, [statement for statement in sql if statement.split()[0] not in TRANSACTION_CONTROL]


def test_each_request_of_a_hand_over_asks_what_it_needs(institution, fake_dap):
    fake_dap.add_key(VALID_DAP_CLIENT_ID, VALID_DAP_SECRET)  # Canvas accepts it at hand-over
    customer = Client(REMOTE_ADDR="198.51.100.7")
    page, sql = queries(lambda: customer.get(institution.intake_path()))
    # Was 3: the institution's keys were asked for even when it held none.
    assert page.status_code == 200 and len(sql) == 2, sql
    data = form_data(customer, institution)
    posted, sql = queries(lambda: customer.post(institution.intake_path(), data))
    assert posted.status_code == 302
    # Was 12, in four write transactions: each flood limit listed its slots and inserted in one of its own.
    assert len(sql) == 10, sql
    code_page, sql = queries(lambda: customer.get(posted["Location"]))
    assert code_page.status_code == 200 and len(sql) == 1, sql
    verified, sql = queries(lambda: customer.post(posted["Location"], {"code": last_code()}))
    assert verified.status_code == 302
    # Was 20: the submission, its key and its contact were read again after the code was verified.
    assert len(sql) == VERIFY_POST, sql
    assert sum("keys_pipelineevent" in q for q in sql) == 1  # the one event the hand-over owes pipelines
    renewal, sql = queries(lambda: customer.get(institution.intake_path()))
    assert renewal.status_code == 200 and len(sql) == 3, sql  # now it lists the key handed over
    assert institution.credentials.get().masked_client_id in renewal.content.decode()
