"""``RetrievePropertiesEx`` posted by us and stream-parsed, on pyVmomi's own connection.

VM replies are read by :mod:`fastxml` (ElementTree behind it for anything outside the wire format it
knows), reference lists by :func:`parse_refs`.

The request travels on a connection taken from the session's pyVmomi stub pool, so it carries the
session cookie and went through the same pinned/verified TLS handshake as every other call (the pin is
checked in the handshake of each new pooled connection). Only the *reply* bypasses pyVmomi: a 200 is
parsed by :mod:`raw`; a SOAP fault (HTTP 500) is handed to pyVmomi's own deserialiser and raised as the
real ``vmodl.MethodFault``, so ``VsphereSession.call`` re-logs in on ``NotAuthenticated`` and
``faults.translate`` maps ``NoPermission`` exactly as for any other call.
"""

from __future__ import annotations

import gzip
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.client import HTTPException
from typing import IO, Any, TypeVar
from xml.etree.ElementTree import iterparse
from xml.sax.saxutils import escape

from pyVmomi import SoapAdapter, vim, vmodl

from vmrestore.vsphere.properties import container_view
from vmrestore.vsphere.session import VsphereSession
from vmrestore.vsphere.snapshots.fastxml import parse_retrieve_result_fast
from vmrestore.vsphere.snapshots.raw import NS, ParsedPage, RawVm

log = logging.getLogger(__name__)

P = TypeVar("P")

_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'
)
_RESULT_TYPE: Any = vmodl.query.PropertyCollector.RetrieveResult
_Deserializer: Any = SoapAdapter.SoapResponseDeserializer


def stub_of(session: VsphereSession) -> Any:
    """The pyVmomi SOAP stub behind the session (its connection pool, cookie and TLS context)."""
    stub = session.content.propertyCollector._stub
    return getattr(stub, "soapStub", stub)


def retrieve_body(collector: str, view: str, obj_type: str, paths: Sequence[str]) -> str:
    path_xml = "".join(f"<pathSet>{escape(p)}</pathSet>" for p in paths)
    return _ENVELOPE.format(body=(
        f'<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">{escape(collector)}</_this>'
        f"<specSet><propSet><type>{escape(obj_type)}</type><all>false</all>{path_xml}</propSet>"
        f'<objectSet><obj type="ContainerView">{escape(view)}</obj><skip>true</skip>'
        '<selectSet xsi:type="TraversalSpec"><name>view</name><type>ContainerView</type><path>view</path>'
        "<skip>false</skip></selectSet></objectSet></specSet><options/></RetrievePropertiesEx>"
    ))


def objects_body(collector: str, obj_type: str, morefs: Sequence[str], paths: Sequence[str]) -> str:
    path_xml = "".join(f"<pathSet>{escape(p)}</pathSet>" for p in paths)
    objs = "".join(f'<objectSet><obj type="{escape(obj_type)}">{escape(m)}</obj><skip>false</skip></objectSet>'
                   for m in morefs)
    return _ENVELOPE.format(body=(
        f'<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">{escape(collector)}</_this>'
        f"<specSet><propSet><type>{escape(obj_type)}</type><all>false</all>{path_xml}</propSet>{objs}"
        "</specSet><options/></RetrievePropertiesEx>"
    ))


def continue_body(collector: str, token: str) -> str:
    return _ENVELOPE.format(body=(
        f'<ContinueRetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">'
        f"{escape(collector)}</_this><token>{escape(token)}</token></ContinueRetrievePropertiesEx>"
    ))


def _post(stub: Any, body: str) -> ParsedPage:
    return post_parsed(stub, body, parse_retrieve_result_fast)


def post_parsed(stub: Any, body: str, parse: Callable[[IO[bytes]], P]) -> P:
    """POST one SOAP ``body`` on a pooled connection of ``stub``; a 200 reply is streamed into ``parse``."""
    headers = {
        "Cookie": stub.cookie,
        "SOAPAction": stub.versionId,
        "Content-Type": "text/xml; charset=utf-8",
    }
    compressed = bool(getattr(stub, "_acceptCompressedResponses", False))
    if compressed:
        headers["Accept-Encoding"] = "gzip"
    conn = stub.GetConnection()
    try:
        conn.request("POST", stub.path, body.encode("utf-8"), headers)
        resp = conn.getresponse()
        stream: Any = resp
        if resp.getheader("Content-Encoding", "identity").lower() == "gzip":
            stream = gzip.GzipFile(fileobj=resp)
        if resp.status == 200:
            page = parse(stream)
            resp.read()
        elif resp.status == 500:
            data = stream.read()
            fault = _Deserializer(stub).Deserialize(io.BytesIO(data), _RESULT_TYPE)
            stub.ReturnConnection(conn)
            conn = None
            raise fault
        else:
            raise HTTPException(f"{resp.status} {resp.reason}")
    except BaseException:
        if conn is not None:
            conn.close()
            stub.DropConnections()
        raise
    stub.ReturnConnection(conn)
    return page


def retrieve_vms(session: VsphereSession, paths: Sequence[str], root: Any = None) -> list[RawVm]:
    """Every VM's ``paths`` in one collector call per page, parsed as it streams in (:mod:`fastxml`)."""
    def work() -> list[RawVm]:
        stub = stub_of(session)
        collector = session.content.propertyCollector._moId
        with container_view(session, [vim.VirtualMachine], root) as view:
            page = _post(stub, retrieve_body(collector, view._moId, "VirtualMachine", paths))
            vms = list(page.vms)
            while page.token:
                page = _post(stub, continue_body(collector, page.token))
                vms.extend(page.vms)
        return vms

    return session.call(work)


def retrieve_vm_objects(session: VsphereSession, morefs: Sequence[str], paths: Sequence[str]) -> list[RawVm]:
    """``paths`` of the given VMs only (e.g. the full ``layoutEx`` of the VMs that have snapshots)."""
    if not morefs:
        return []

    def work() -> list[RawVm]:
        stub = stub_of(session)
        collector = session.content.propertyCollector._moId
        page = _post(stub, objects_body(collector, "VirtualMachine", morefs, paths))
        vms = list(page.vms)
        while page.token:
            page = _post(stub, continue_body(collector, page.token))
            vms.extend(page.vms)
        return vms

    return session.call(work)


RefMap = dict[str, dict[str, frozenset[str] | None]]
_OBJECTS, _OBJ, _PROPSET, _NAME, _VAL = NS + "objects", NS + "obj", NS + "propSet", NS + "name", NS + "val"
_MISSING, _PATH, _TOKEN = NS + "missingSet", NS + "path", NS + "token"


@dataclass
class _RefPage:
    objects: RefMap
    token: str | None


def parse_refs(stream: IO[bytes]) -> _RefPage:
    """Each object's properties as the set of managed object ids they name (any depth: a ``vm`` list, a
    ``host`` mount's ``key``); a property in ``missingSet`` maps to None (unknown, never empty)."""
    out: RefMap = {}
    token: str | None = None
    for _event, elem in iterparse(stream, events=("end",)):
        if elem.tag == _OBJECTS:
            props: dict[str, frozenset[str] | None] = {}
            for prop in elem.iterfind(_PROPSET):
                val = prop.find(_VAL)
                ids = () if val is None else (e.text or "" for e in val.iter() if e is not val and e.get("type"))
                props[prop.findtext(_NAME) or ""] = frozenset(ids)
            for missing in elem.iterfind(_MISSING):
                props[missing.findtext(_PATH) or ""] = None
            out[elem.findtext(_OBJ) or ""] = props
            elem.clear()
        elif elem.tag == _TOKEN and token is None:
            token = elem.text
    return _RefPage(out, token)


def retrieve_refs(session: VsphereSession, obj_type: str, paths: Sequence[str]) -> RefMap:
    """Every ``obj_type`` object → path → the ids its value names, streamed (``Datastore.vm`` of 10,000 VMs
    is 10,000 references: pyVmomi would build an object for each)."""
    def work() -> RefMap:
        stub = stub_of(session)
        collector = session.content.propertyCollector._moId
        out: RefMap = {}
        with container_view(session, [getattr(vim, obj_type)]) as view:
            page = post_parsed(stub, retrieve_body(collector, view._moId, obj_type, paths), parse_refs)
            out.update(page.objects)
            while page.token:
                page = post_parsed(stub, continue_body(collector, page.token), parse_refs)
                out.update(page.objects)
        return out

    return session.call(work)
