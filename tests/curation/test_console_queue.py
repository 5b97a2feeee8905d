"""The console for curators (issue 14, item 6): the first page opens with what waits for them, complaint SLA
states name their deadline, and a finding's evidence is shown once, in words."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from curation.models import Complaint, Finding
from curation.standing import services as standing
from tests.factories import UserFactory
from tests.factories.curation import ApplicationFactory
from tests.factories.merchants import MerchantFactory
from tests.factories.standing import ComplaintFactory, curator_user

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def console(person) -> Client:
    client = Client()
    client.force_login(person)
    return client


def queue_of(html: str) -> str:
    start = html.index('id="queue-home"')
    return html[start : html.index("</section>", start)]


def test_the_first_page_lists_what_waits_with_links_and_urgency():
    with time_machine.travel(NOW, tick=False):
        ApplicationFactory(state="submitted", submitted_at=NOW - timedelta(days=2))
        ApplicationFactory(state="in_review", submitted_at=NOW - timedelta(hours=3))
        ApplicationFactory(state="draft")
        ComplaintFactory(created_at=NOW - timedelta(hours=30))  # first response overdue
        ComplaintFactory(created_at=NOW - timedelta(hours=21))  # due within 4 hours
        ComplaintFactory(created_at=NOW - timedelta(hours=1))
        ComplaintFactory(
            created_at=NOW - timedelta(hours=5),
            state=Complaint.State.RESOLVED,
            first_responded_at=NOW - timedelta(hours=4),
            resolved_at=NOW,
            outcome="upheld",
        )
        page = console(curator_user()).get("/admin/")
    html = queue_of(page.content.decode())
    rows = html.split("<tr")[1:]
    assert "等待审核的入驻申请" in rows[0] and ">2<" in rows[0] and "2" in rows[0]
    assert "/admin/curation/application/?state__in=submitted,in_review" in rows[0]
    assert "未结投诉" in rows[1] and ">3<" in rows[1] and "2 " in rows[1]  # two of three late or due soon
    assert console(curator_user()).get("/admin/curation/application/?state__in=submitted,in_review").status_code == 200


def test_the_queue_is_only_for_people_who_work_it():
    operator_without_curation = UserFactory(is_staff=True)
    html = console(operator_without_curation).get("/admin/").content.decode()
    assert 'id="queue-home"' not in html


@pytest.mark.parametrize(
    ("age", "fields", "expected"),
    [
        (timedelta(hours=30), {}, "首次回复已于 12-03 04:00 逾期"),
        (timedelta(hours=2), {}, "首次回复剩余 22 小时（12-04 08:00 截止）"),
        (timedelta(hours=80), {"first_responded_at": "+1h"}, "处理已于 12-03 02:00 逾期"),
        (timedelta(hours=30), {"first_responded_at": "+26h"}, "首次回复超时（应于 12-03 04:00 前）"),
    ],
)
def test_complaint_sla_states_name_the_deadline(age, fields, expected):
    with time_machine.travel(NOW, tick=False):
        created = NOW - age
        extra = {k: created + timedelta(hours=int(v[1:-1])) for k, v in fields.items()}
        ComplaintFactory(created_at=created, state="answered" if extra else "new", **extra)
        html = console(curator_user()).get("/admin/curation/complaint/").content.decode()
    assert expected in html


def test_a_finding_shows_its_evidence_once_in_words():
    standing.removal_rules_install_defaults()  # as the data migration does (a transactional test flushes it)
    shop = MerchantFactory(external_rating=Decimal("3.3"))
    standing.removal_rules_evaluate()
    finding = Finding.objects.get(merchant=shop)
    html = console(curator_user()).get(f"/admin/curation/finding/{finding.pk}/change/").content.decode()
    words = standing.evidence_summary(kind=finding.rule_kind, evidence=finding.evidence)
    fields = html[: html.index('class="audit-trail"')]  # the audit trail below quotes the finding's reason
    assert fields.count(str(words)) == 1
    assert "collapse" in html  # the recorded data is folded away
