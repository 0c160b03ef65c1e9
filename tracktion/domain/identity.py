"""Profile identity (docs/api.md §9.2–§9.4, §2.6): find, create or extend the profile an event belongs to.

Split in two so a request can be fully checked before anything is written: `plan` only reads and may
refuse (profile-token ownership, 403), `apply` performs the creation/attachments the plan decided.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracktion.domain.event_ids import derived_profile_uuid, random_event_uuid
from tracktion.domain.models import ClientRef, Credential, Profile
from tracktion.domain.ports import WriteTx
from tracktion.errors import ErrorEntry, ProfileMismatch, Unauthorized, rejected


@dataclass(slots=True)
class IdentityPlan:
    profile: Profile | None  # None = create one
    client: ClientRef
    attach_uuid: bool = False
    set_custom_id: bool = False
    set_email: bool = False
    uuid_owner_id: int | None = None  # who owned `client.uuid` before this request

    @property
    def email_after(self) -> str | None:
        """The profile's e-mail once the plan is applied (what `params.email` is compared with)."""
        if self.profile is None:
            return self.client.email
        return (
            self.profile.email
            if self.profile.email is not None
            else (self.client.email if self.set_email else None)
        )


# A lone `client.id` that no profile of the workspace has (§9.2 step 2): quarantined, still 202.
UNKNOWN_CLIENT_ID = None


def plan(
    tx: WriteTx,
    workspace_id: int,
    client: ClientRef,
    credential: Credential,
    prefix: str = "",
    uuid_field: str = "client.uuid",
) -> IdentityPlan | None:
    """Decide the profile. Returns None for a lone unknown `client.id`; raises ProfileMismatch (2004), at
    `client.<identifier>` (the uuid at `uuid_field`: ai-compat bodies send it as `clientUUID`)."""
    if credential.kind == "profile":
        return _plan_for_profile_token(tx, workspace_id, client, credential, prefix, uuid_field)
    id_owner = tx.profile_by_id(workspace_id, client.id) if client.id is not None else None
    if id_owner is None and client.is_lone_id():
        return UNKNOWN_CLIENT_ID
    cust_owner = tx.profile_by_custom_id(workspace_id, client.custom_id) if client.custom_id else None
    email_owner = tx.profile_by_email(workspace_id, client.email) if client.email else None
    uuid_owner = tx.profile_by_uuid(workspace_id, client.uuid) if client.uuid else None
    # Priority id > customId > email > uuid; an unknown id next to other identifiers is ignored.
    resolved = id_owner or cust_owner or email_owner or uuid_owner
    if resolved is None:
        return IdentityPlan(profile=None, client=client)
    return IdentityPlan(
        profile=resolved,
        client=client,
        attach_uuid=client.uuid is not None and uuid_owner is None,
        set_custom_id=client.custom_id is not None and cust_owner is None and resolved.custom_id is None,
        set_email=client.email is not None and email_owner is None and resolved.email is None,
        uuid_owner_id=uuid_owner.client_id if uuid_owner else None,
    )


def _plan_for_profile_token(
    tx: WriteTx, workspace_id: int, client: ClientRef, credential: Credential, prefix: str, uuid_field: str
) -> IdentityPlan:
    assert credential.client_id is not None
    own = tx.profile_by_id(workspace_id, credential.client_id)
    if own is None:  # the profile vanished after the token was checked
        raise Unauthorized()
    errors: list[ErrorEntry] = []

    def foreign(field: str, value: object) -> None:
        errors.append(
            ErrorEntry(
                2004, _path(prefix, field), "Profile token cannot act for another profile", rejected(value)
            )
        )

    if client.id is not None and client.id != own.client_id:
        foreign("client.id", client.id)
    owners: dict[str, Profile | None] = {}
    for field, path, value, lookup in (
        ("customId", "client.customId", client.custom_id, tx.profile_by_custom_id),
        ("email", "client.email", client.email, tx.profile_by_email),
        ("uuid", uuid_field, client.uuid, tx.profile_by_uuid),
    ):
        if value is None:
            continue
        owner = owners[field] = lookup(workspace_id, value)
        if owner is not None and owner.client_id != own.client_id:
            foreign(path, value)
    if errors:
        raise ProfileMismatch(errors=errors)
    return IdentityPlan(
        profile=own,
        client=client,
        attach_uuid=client.uuid is not None and owners.get("uuid") is None,
        set_custom_id=client.custom_id is not None
        and owners.get("customId") is None
        and own.custom_id is None,
        set_email=client.email is not None and owners.get("email") is None and own.email is None,
        uuid_owner_id=own.client_id if owners.get("uuid") is not None else None,
    )


def apply(tx: WriteTx, workspace_id: int, p: IdentityPlan, now_ms: int) -> tuple[Profile, str]:
    """Carry out the plan. Returns the profile and the `uuid` system param for the event (§7.2)."""
    client = p.client
    if p.profile is None:
        uuid = client.uuid
        if uuid is None:
            seed = client.email if client.email is not None else client.custom_id
            assert seed is not None, "validation guarantees an identifier besides an unknown id"
            uuid = derived_profile_uuid(seed)
            if tx.uuid_taken(workspace_id, uuid):
                uuid = random_event_uuid()
        profile = tx.create_profile(
            workspace_id, uuid=uuid, custom_id=client.custom_id, email=client.email, now_ms=now_ms
        )
        return profile, uuid
    profile = p.profile
    if p.attach_uuid:
        assert client.uuid is not None
        tx.attach_uuid(profile, client.uuid, now_ms)
    if p.set_custom_id:
        assert client.custom_id is not None
        profile = tx.set_custom_id(profile, client.custom_id, now_ms)
    if p.set_email:
        assert client.email is not None
        profile = tx.set_email(profile, client.email, now_ms)
    # The request's uuid is the event's when it belongs to this profile (it does unless another owns it).
    if client.uuid is not None and (p.attach_uuid or p.uuid_owner_id == profile.client_id):
        return profile, client.uuid
    return profile, profile.primary_uuid


def _path(prefix: str, field: str) -> str:
    return f"{prefix}.{field}" if prefix else field


def profile_for_uuid(tx: WriteTx, workspace_id: int, uuid: str, now_ms: int) -> Profile:
    """Anonymous login (§2.2, §9.3): the profile owning `uuid`, created with only that uuid if none does."""
    owner = tx.profile_by_uuid(workspace_id, uuid)
    if owner is not None:
        return owner
    return tx.create_profile(workspace_id, uuid=uuid, custom_id=None, email=None, now_ms=now_ms)
