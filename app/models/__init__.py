"""SQLAlchemy models of the reference application, one module per aggregate.

Importing this package registers every table on ``Base.metadata`` (what
``migrations/env.py`` compares against). Schema and seed revisions never import it.
"""

from app.models.accounts import User
from app.models.analytics import Event, Metric
from app.models.base import Base
from app.models.config import MenuItem, Setting
from app.models.places import Store
from app.models.planning import TASK_STATUSES, Feature, Project, Sprint, Task, project_members
from app.models.workflow import WORKFLOW_STATES, StateHistory, WorkflowItem

__all__ = [
    "TASK_STATUSES",
    "WORKFLOW_STATES",
    "Base",
    "Event",
    "Feature",
    "MenuItem",
    "Metric",
    "Project",
    "Setting",
    "Sprint",
    "StateHistory",
    "Store",
    "Task",
    "User",
    "WorkflowItem",
    "project_members",
]
