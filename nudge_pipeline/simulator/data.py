"""The seeded world: two accounts with workspaces, customer groups, campaigns and runs.

Everything here is a pure function of SimConfig; messages and customers are derived on demand
so large worlds cost nothing until asked for.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nudge_pipeline.simulator.config import SimConfig
from nudge_pipeline.simulator.crypto import derive_fernet_key, encrypt_profile_value

STAGES = ("Draft", "Generating", "Ready to Publish", "Published")
CAMPAIGN_STATUSES = ("active", "paused", "archived")
EPOCH = datetime(2025, 1, 6, 9, 0, 0, tzinfo=UTC)

# (field_name, field_type, is_custom, encrypted). "enum" is deliberately outside the documented
# types: clients must land unknown types as strings.
PROFILE_FIELDS = (
    ("first_name", "string", False, False),
    ("email", "string", False, True),
    ("phone", "string", False, True),
    ("loyalty_points", "number", True, False),
    ("lifetime_value", "number", True, True),
    ("is_vip", "boolean", True, False),
    ("birth_date", "date", True, True),
    ("signup_date", "date", False, False),
    ("tier", "enum", True, False),
)

FIRST_NAMES = (
    "Ana", "Bjørn", "Chloé", "Dmitri", "Émile", "Fatima", "Giulia", "Hiroshi",
    "Ingrid", "José", "Kwame", "Łukasz", "Mei", "Nadia", "Oğuz", "Priya",
)  # fmt: skip


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return iso(datetime.now(UTC))


def seeded_rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join([str(seed), *map(str, parts)]))


def seeded_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class Account:
    index: int
    account_id: str
    user_id: str
    role_code: str
    api_key: str
    api_secret: str
    token_secret: str
    profile_key: str

    def public(self) -> dict[str, str]:
        return {
            "account_id": self.account_id,
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "profile_key": self.profile_key,
        }


@dataclass
class Workspace:
    workspace_id: str
    workspace_name: str
    account_id: str
    ordinal: int


@dataclass
class CustomerGroup:
    customer_group_id: str
    account_id: str
    workspace_id: str
    group_name: str
    created_at: str
    updated_at: str
    created_by: str
    updated_by: str
    ordinal: int  # feeds the customer id prefix
    customer_count: int

    def public(self) -> dict[str, Any]:
        return {
            "customer_group_id": self.customer_group_id,
            "account_id": self.account_id,
            "workspace_id": self.workspace_id,
            "group_name": self.group_name,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "created_by": self.created_by,
            "updated_by": self.updated_by,
        }


@dataclass
class Run:
    run_id: str
    campaign_id: str
    run_number: int
    status: str
    started_at: str | None
    completed_at: str | None
    message_count: int
    format_ordinal: int  # picks the CSV variant (BOM, line ending, extra column)
    # Reruns started through the API progress with wall-clock time.
    started_monotonic: float | None = None

    def public(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "campaign_id": self.campaign_id,
            "run_number": self.run_number,
            "status": self.status,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "message_count": self.message_count,
        }


@dataclass
class Campaign:
    campaign_id: str
    campaign_name: str
    account_id: str
    workspace_id: str
    customer_group_id: str
    status: str
    stage: str
    start_date: str
    end_date: str
    created_at: str
    updated_at: str
    runs: list[Run] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "campaign_name": self.campaign_name,
            "workspace_id": self.workspace_id,
            "customer_group_id": self.customer_group_id,
            "status": self.status,
            "stage": self.stage,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass
class World:
    config: SimConfig
    api_code: str
    accounts: list[Account]
    workspaces: dict[str, Workspace]
    groups: dict[str, CustomerGroup]
    campaigns: dict[str, Campaign]
    next_format_ordinal: int
    next_group_ordinal: int

    def token_secrets(self) -> tuple[tuple[str, str], ...]:
        """(account_id, JWT signing secret) pairs; hashable, so verified tokens can be cached."""
        return tuple((a.account_id, a.token_secret) for a in self.accounts)

    def account(self, account_id: str) -> Account | None:
        return next((a for a in self.accounts if a.account_id == account_id), None)

    def workspaces_of(self, account_id: str) -> list[Workspace]:
        return [w for w in self.workspaces.values() if w.account_id == account_id]

    def campaign_of(self, account_id: str, campaign_id: str) -> Campaign | None:
        campaign = self.campaigns.get(campaign_id)
        return campaign if campaign and campaign.account_id == account_id else None

    def group_of(self, account_id: str, group_id: str) -> CustomerGroup | None:
        group = self.groups.get(group_id)
        return group if group and group.account_id == account_id else None

    def workspace_of(self, account_id: str, workspace_id: str) -> Workspace | None:
        ws = self.workspaces.get(workspace_id)
        return ws if ws and ws.account_id == account_id else None


def build_world(config: SimConfig) -> World:
    seed = config.seed
    rng = seeded_rng(seed, "world")
    world = World(
        config=config,
        api_code=f"sim-{seeded_uuid(rng)[:13]}",
        accounts=[],
        workspaces={},
        groups={},
        campaigns={},
        next_format_ordinal=seeded_rng(seed, "format").randrange(8),
        next_group_ordinal=1,
    )
    for index in range(2):
        arng = seeded_rng(seed, "account", index)
        account_id = seeded_uuid(arng)
        account = Account(
            index=index,
            account_id=account_id,
            user_id=seeded_uuid(arng),
            role_code="admin" if index == 0 else "analyst",
            api_key=f"nsk_{arng.getrandbits(96):024x}",
            api_secret=f"nss_{arng.getrandbits(160):040x}",
            token_secret=f"{arng.getrandbits(256):064x}",
            profile_key=derive_fernet_key(f"{seed}:profile:{index}"),
        )
        world.accounts.append(account)
        for w in range(config.workspaces):
            _build_workspace(world, account, w, seeded_rng(seed, "ws", index, w))
    return world


def _build_workspace(world: World, account: Account, w: int, rng: random.Random) -> None:
    config = world.config
    ws = Workspace(
        seeded_uuid(rng), f"Workspace {account.index + 1}.{w + 1}", account.account_id, w
    )
    world.workspaces[ws.workspace_id] = ws
    group_ids = []
    for g in range(max(config.customer_groups, 1)):
        created = EPOCH + timedelta(days=w * 10 + g, minutes=rng.randrange(600))
        group = CustomerGroup(
            customer_group_id=seeded_uuid(rng),
            account_id=account.account_id,
            workspace_id=ws.workspace_id,
            group_name=f"Segment {g + 1} · {ws.workspace_name}",
            created_at=iso(created),
            updated_at=iso(created + timedelta(hours=rng.randrange(1, 48))),
            created_by=account.user_id,
            updated_by=account.user_id,
            ordinal=world.next_group_ordinal,
            customer_count=config.customers_per_group,
        )
        world.next_group_ordinal += 1
        world.groups[group.customer_group_id] = group
        group_ids.append(group.customer_group_id)
    n = 0
    for stage in STAGES:
        for _ in range(config.campaigns_per_stage):
            created = EPOCH + timedelta(days=30 + w * 7 + n, hours=rng.randrange(24))
            campaign = Campaign(
                campaign_id=seeded_uuid(rng),
                campaign_name=f"{stage} campaign #{n + 1}, “{ws.workspace_name}”",
                account_id=account.account_id,
                workspace_id=ws.workspace_id,
                customer_group_id=group_ids[n % len(group_ids)],
                status=CAMPAIGN_STATUSES[n % len(CAMPAIGN_STATUSES)],
                stage=stage,
                start_date=(created + timedelta(days=2)).date().isoformat(),
                end_date=(created + timedelta(days=32)).date().isoformat(),
                created_at=iso(created),
                updated_at=iso(created + timedelta(hours=3)),
            )
            campaign.runs = _build_runs(world, campaign, created, rng)
            world.campaigns[campaign.campaign_id] = campaign
            n += 1


def _run_statuses(stage: str, count: int) -> list[str]:
    if stage == "Draft" or count == 0:
        return []
    statuses = ["completed"] * count
    if stage == "Generating":
        statuses[-1] = "running"
        if count >= 3:
            statuses[-2] = "queued"
    elif count >= 3:
        statuses[1] = "failed"
    return statuses


def _build_runs(
    world: World, campaign: Campaign, created: datetime, rng: random.Random
) -> list[Run]:
    runs = []
    for number, status in enumerate(
        _run_statuses(campaign.stage, world.config.runs_per_campaign), 1
    ):
        started = created + timedelta(days=number, minutes=rng.randrange(60))
        runs.append(
            Run(
                run_id=seeded_uuid(rng),
                campaign_id=campaign.campaign_id,
                run_number=number,
                status=status,
                started_at=None if status == "queued" else iso(started),
                completed_at=iso(started + timedelta(minutes=17))
                if status == "completed"
                else None,
                message_count=world.config.messages_per_run if status == "completed" else 0,
                format_ordinal=world.next_format_ordinal,
            )
        )
        world.next_format_ordinal += 1
    return runs


def customer_id(group: CustomerGroup, index: int) -> str:
    """Zero-padded so that leading zeros are significant and must survive as strings."""
    return f"{group.ordinal:03d}{index + 1:07d}"


def profile_fields(world: World, ws: Workspace) -> list[dict[str, Any]]:
    created = EPOCH + timedelta(days=ws.ordinal)
    rng = seeded_rng(world.config.seed, "fields", ws.workspace_id)
    return [
        {
            "field_id": seeded_uuid(rng),
            "workspace_id": ws.workspace_id,
            "field_name": name,
            "field_type": field_type,
            "is_custom": is_custom,
            "created_at": iso(created),
            "updated_at": iso(created + timedelta(days=i)),
        }
        for i, (name, field_type, is_custom, _) in enumerate(PROFILE_FIELDS)
    ]


def customer_record(world: World, group: CustomerGroup, index: int) -> dict[str, Any]:
    account = world.account(group.account_id)
    assert account is not None
    rng = seeded_rng(world.config.seed, "customer", group.customer_group_id, index)
    cid = customer_id(group, index)
    created = EPOCH + timedelta(days=rng.randrange(300), seconds=rng.randrange(86400))
    name = FIRST_NAMES[rng.randrange(len(FIRST_NAMES))]
    values: dict[str, Any] = {
        "first_name": name,
        "email": f"{name.lower()}.{cid}@example.com",
        "phone": f"+44 7{rng.randrange(10**9):09d}",
        "loyalty_points": rng.randrange(5000),
        "lifetime_value": f"{rng.uniform(0, 2500):.2f}",
        "is_vip": rng.random() < 0.2,
        "birth_date": (EPOCH - timedelta(days=7000 + rng.randrange(20000))).date().isoformat(),
        "signup_date": created.date().isoformat(),
        "tier": ("bronze", "silver", "gold")[rng.randrange(3)],
    }
    if index % 7 == 3:
        values["phone"] = None  # missing values are null, never encrypted
    if index % 11 == 5:
        values["legacy_score"] = 0.5  # a key with no profile field definition
    encrypted = {name for name, _, _, enc in PROFILE_FIELDS if enc}
    timestamp = int(created.timestamp())
    profile = {
        key: encrypt_profile_value(
            account.profile_key,
            str(value),
            nonce_material=f"{cid}:{key}",
            timestamp=timestamp,
        )
        if key in encrypted and value is not None
        else value
        for key, value in values.items()
    }
    return {
        "customer_id": cid,
        "account_id": group.account_id,
        "workspace_id": group.workspace_id,
        "customer_group_id": group.customer_group_id,
        "extended_profile": profile,
        "created_at": iso(created),
        "updated_at": iso(created + timedelta(days=rng.randrange(30))),
        "created_by": group.created_by,
        "updated_by": group.updated_by,
    }
