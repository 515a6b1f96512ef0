"""Tools › Settings… and the repository form the first-run page reuses."""

from .dialog import TABS, SettingsDialog
from .repository_form import RepositoryDialog, RepositoryForm

__all__ = ["TABS", "RepositoryDialog", "RepositoryForm", "SettingsDialog"]
