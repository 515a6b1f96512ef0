"""Read properties in bulk through the PropertyCollector, naming every property.

One ``RetrievePropertiesEx`` over a ``ContainerView`` returns a property set for every object of a type
(govmomi's ``view`` + ``property`` shape). Walking managed-object attributes instead costs one SOAP
round trip per attribute, and on the simulator reading an unset attribute even drops the connection.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pyVmomi import vim, vmodl
from pyVmomi.VmomiSupport import ManagedObject

from vmrestore.vsphere.session import VsphereSession

log = logging.getLogger(__name__)

# pyVmomi's stubs leave data-object constructors untyped: they are Any at our boundary.
_PC: Any = vmodl.query.PropertyCollector

# Asked per page; vCenter may return fewer and a continuation token (the simulator never pages).
PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class ObjectProps:
    """The properties read for one managed object; ``props`` holds only the paths the server returned.

    ``ref`` is the pyVmomi managed object, for follow-up calls inside the vsphere package only.
    """

    moid: str
    type: str
    props: Mapping[str, Any]
    missing: tuple[str, ...] = ()
    ref: Any = field(default=None, compare=False, repr=False)


def managed_type(name: str) -> Any:
    """``"VirtualMachine"`` → ``vim.VirtualMachine``; rejects names that are not managed object types."""
    vim_type = getattr(vim, name, None)
    if not isinstance(vim_type, type) or not issubclass(vim_type, ManagedObject):
        raise ValueError(f"{name!r} is not a vim managed object type")
    return vim_type


@contextmanager
def container_view(session: VsphereSession, types: Sequence[Any], root: Any = None) -> Iterator[Any]:
    """A recursive ContainerView of ``types`` under ``root`` (default: the root folder), always destroyed.

    Views live on the server until destroyed or the session ends; leaking one per listing would grow
    the server's memory for the whole life of a long session.
    """
    content = session.content
    view = content.viewManager.CreateContainerView(root or content.rootFolder, list(types), True)
    try:
        yield view
    finally:
        try:
            view.DestroyView()
        except Exception as exc:  # the session or the connection may already be gone
            log.debug("DestroyView failed: %s", type(exc).__name__)


def retrieve(
    session: VsphereSession, obj_type: str, paths: Sequence[str], root: Any = None
) -> list[ObjectProps]:
    """Read ``paths`` of every ``obj_type`` object under ``root`` with one collector call (per page)."""
    vim_type = managed_type(obj_type)
    path_set = _checked_paths(paths)

    def work() -> list[ObjectProps]:
        with container_view(session, [vim_type], root) as view:
            traversal = _PC.TraversalSpec(name="view", type=vim.view.ContainerView, path="view", skip=False)
            spec = _PC.FilterSpec(
                objectSet=[_PC.ObjectSpec(obj=view, skip=True, selectSet=[traversal])],
                propSet=[_PC.PropertySpec(type=vim_type, all=False, pathSet=path_set)],
            )
            return _retrieve_all(session, spec)

    return session.call(work)


def retrieve_objects(session: VsphereSession, objs: Sequence[Any], paths: Sequence[str]) -> list[ObjectProps]:
    """Read ``paths`` of the given managed objects (all of one type, or sharing those paths)."""
    path_set = _checked_paths(paths)
    if not objs:
        return []
    types = {type(obj) for obj in objs}

    def work() -> list[ObjectProps]:
        spec = _PC.FilterSpec(
            objectSet=[_PC.ObjectSpec(obj=obj, skip=False) for obj in objs],
            propSet=[_PC.PropertySpec(type=t, all=False, pathSet=path_set) for t in types],
        )
        return _retrieve_all(session, spec)

    return session.call(work)


def _checked_paths(paths: Sequence[str]) -> list[str]:
    if isinstance(paths, str):
        raise TypeError("paths must be a sequence of property paths, not one string")
    path_set = [p for p in paths if p]
    if not path_set:
        # An empty pathSet with all=False would mean "no properties"; with all=True, every property
        # of every object - a reply that can reach megabytes. Neither is ever what a caller meant.
        raise ValueError("name the properties to read: an empty path set is refused")
    return path_set


def _retrieve_all(session: VsphereSession, spec: Any) -> list[ObjectProps]:
    collector = session.content.propertyCollector
    result = collector.RetrievePropertiesEx([spec], _PC.RetrieveOptions(maxObjects=PAGE_SIZE))
    out: list[ObjectProps] = []
    while result is not None:
        out.extend(_to_props(item) for item in result.objects or ())
        if not result.token:
            break
        result = collector.ContinueRetrievePropertiesEx(result.token)
    return out


def _to_props(content: Any) -> ObjectProps:
    obj = content.obj
    props = {prop.name: prop.val for prop in content.propSet or ()}
    missing = tuple(m.path for m in content.missingSet or ())
    return ObjectProps(moid=obj._moId, type=obj._wsdlName, props=props, missing=missing, ref=obj)
