"""Step 6: the caller's effective model set (SPEC §7).

tenant set = discovered ∩ (allowlist, or everything when allow_all_models); key set = tenant set ∩
the key's subset. Cloud models forward prompts to a third party, so `allow_all_models` never
includes them: only an allowlist that names one serves it.
"""

from __future__ import annotations

from collections.abc import Iterable

from neuronetz_gateway.db.records import KeyRecord, TenantRecord
from neuronetz_gateway.policy.models import is_cloud_model


def effective_models(discovered: Iterable[str], tenant: TenantRecord, key: KeyRecord) -> set[str]:
    """The models this key may use right now."""
    if tenant.allow_all_models:
        allowed = {m for m in discovered if not is_cloud_model(m)}
    else:
        allowed = set(discovered) & set(tenant.models)
    if key.models is not None:
        allowed &= set(key.models)
    return allowed
