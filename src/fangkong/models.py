"""Every domain's tables, imported in one place so that metadata and migrations see them all."""

from fangkong.areas.models import Area, StandardAddress
from fangkong.cases import models as cases_models  # noqa: F401 - the case engine's tables
from fangkong.community import models as community_models  # noqa: F401 - teams, rosters, tips
from fangkong.core.db import Base
from fangkong.core.models import ApiToken, AuditEvent, User, UserArea
from fangkong.custody import models as custody_models  # noqa: F401 - seized property, chain
from fangkong.devices import models as devices_models  # noqa: F401 - devices, status history
from fangkong.dispatch import models as dispatch_models  # noqa: F401 - incidents and units
from fangkong.events import models as events_models  # noqa: F401 - events, emergency plans
from fangkong.facilities import models as facilities_models  # noqa: F401 - key facilities
from fangkong.indicators import models as indicators_models  # noqa: F401 - targets, figures, tasks
from fangkong.materials import models as materials_models  # noqa: F401 - holders, ledger
from fangkong.planning import analysis_models  # noqa: F401 - hotspots, deployment, beats
from fangkong.planning import models as planning_models  # noqa: F401 - checkpoints, scenarios, runs

__all__ = ["ApiToken", "Area", "AuditEvent", "Base", "StandardAddress", "User", "UserArea"]
