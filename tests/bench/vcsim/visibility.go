// Visibility rules: what one user may see of the inventory, and properties a VM answers in missingSet.
//
// The simulator never enforces permissions (shared/TESTING.md). Real vCenter does, and it does so by
// *leaving things out*, not by failing: a user without read permission on a VM does not get that VM from a
// ContainerView, and reference lists filtered the same way (Datastore.vm, HostSystem.vm) omit it too. A
// property the server cannot read for an object comes back in the ObjectContent's missingSet (with a fault)
// instead of its propSet. These flags reproduce both at the SOAP level, on the simulator's own replies to
// RetrieveProperties / RetrievePropertiesEx / ContinueRetrievePropertiesEx:
//
//	-hide user:Name       the VM or host called Name is left out of that user's results (its <objects>
//	                      element is dropped), as a ContainerView does; references to it in other objects'
//	                      property values stay (the lists that, on a given vCenter, are not filtered).
//	-hide-refs user:Name  as -hide, and every reference to it in any property value that user reads is
//	                      dropped as well (Datastore.vm, HostSystem.vm, ResourcePool.vm...): the account then
//	                      has no list at all that names the object.
//	-missing Name:path    for every user, the VM called Name answers property path (e.g. layoutEx,
//	                      layout.disk) in missingSet with a NoPermission fault instead of in propSet.
//
// Names are resolved to managed object ids on the first request (the inventory exists by then).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
)

var hideFlags, hideRefFlags, missingFlags listFlag

func init() {
	flag.Var(&hideFlags, "hide", "user:Name, repeatable: leave the VM or host Name out of that user's results")
	flag.Var(&hideRefFlags, "hide-refs", "user:Name, repeatable: as -hide, and drop every reference to it too")
	flag.Var(&missingFlags, "missing", "VMName:path, repeatable: answer that property in missingSet")
}

// visibilityRules is the resolved form of the flags.
type visibilityRules struct {
	hidden   map[string]map[string]string // user -> moref -> "objects" | "refs"
	missing  map[string][]string          // VM moref -> property paths
	typeOf   map[string]string            // moref -> managed object type
	resolved bool
}

var (
	visOnce sync.Once
	vis     visibilityRules

	objectsRe = regexp.MustCompile(`(?s)<objects>.*?</objects>`)
	objRe     = regexp.MustCompile(`<obj type="([A-Za-z]+)">([^<]+)</obj>`)
)

func resolveVisibility() {
	vis = visibilityRules{hidden: map[string]map[string]string{}, missing: map[string][]string{}, typeOf: map[string]string{}}
	ids := map[string][]string{} // name -> morefs of VMs and hosts so named
	for _, kind := range []string{"VirtualMachine", "HostSystem"} {
		for _, e := range simulator.Map.All(kind) {
			ref := e.Reference()
			ids[e.Entity().Name] = append(ids[e.Entity().Name], ref.Value)
			vis.typeOf[ref.Value] = ref.Type
		}
	}
	split := func(rule string) (string, string) {
		i := strings.Index(rule, ":")
		if i <= 0 || i == len(rule)-1 {
			panic(fmt.Sprintf("bad visibility rule %q: want first:second", rule))
		}
		return rule[:i], rule[i+1:]
	}
	hide := func(rules listFlag, how string) {
		for _, rule := range rules {
			user, name := split(rule)
			if len(ids[name]) == 0 {
				panic(fmt.Sprintf("visibility rule %q: no VM or host is called %q", rule, name))
			}
			if vis.hidden[user] == nil {
				vis.hidden[user] = map[string]string{}
			}
			for _, id := range ids[name] {
				vis.hidden[user][id] = how
			}
		}
	}
	hide(hideFlags, "objects")
	hide(hideRefFlags, "refs")
	for _, rule := range missingFlags {
		// The VM name is everything before the last colon: property paths never hold one.
		i := strings.LastIndex(rule, ":")
		if i <= 0 || i == len(rule)-1 || len(ids[rule[:i]]) == 0 {
			panic(fmt.Sprintf("bad -missing %q: want VMName:path for an existing VM", rule))
		}
		for _, id := range ids[rule[:i]] {
			vis.missing[id] = append(vis.missing[id], rule[i+1:])
		}
	}
	vis.resolved = true
}

// visibility answers a property-collector read itself when a rule applies to it (reporting true):
// the simulator answers into a buffer, the reply is rewritten, then sent. Anything else: false.
func (b *bench) visibility(w http.ResponseWriter, r *http.Request, body []byte, method, user string) bool {
	if len(hideFlags)+len(hideRefFlags)+len(missingFlags) == 0 {
		return false
	}
	switch method {
	case "RetrieveProperties", "RetrievePropertiesEx", "ContinueRetrievePropertiesEx":
	default:
		return false
	}
	visOnce.Do(resolveVisibility)
	hidden := vis.hidden[user]
	if len(hidden) == 0 && len(vis.missing) == 0 {
		return false
	}
	rec := httptest.NewRecorder()
	b.forward(rec, r, body)
	reply := rec.Body.Bytes()
	if rec.Code == http.StatusOK {
		reply = rewriteReply(reply, hidden)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(reply)
	return true
}

func rewriteReply(reply []byte, hidden map[string]string) []byte {
	out := objectsRe.ReplaceAllFunc(reply, func(objects []byte) []byte {
		m := objRe.FindSubmatch(objects)
		if m == nil {
			return objects
		}
		id := string(m[2])
		if _, ok := hidden[id]; ok {
			return nil // the object itself is not visible to this user
		}
		for _, path := range vis.missing[id] {
			objects = toMissingSet(objects, string(m[1]), id, path)
		}
		return objects
	})
	for id, how := range hidden {
		if how != "refs" {
			continue
		}
		ref := []byte(fmt.Sprintf(`<ManagedObjectReference type="%s">%s</ManagedObjectReference>`, vis.typeOf[id], id))
		out = bytes.ReplaceAll(out, ref, nil)
	}
	return out
}

// toMissingSet moves one property of an <objects> element from its propSet to its missingSet.
func toMissingSet(objects []byte, kind, id, path string) []byte {
	re := regexp.MustCompile(`(?s)<propSet><name>` + regexp.QuoteMeta(path) + `</name>.*?</propSet>`)
	if !re.Match(objects) {
		return objects // not asked for in this call
	}
	objects = re.ReplaceAll(objects, nil)
	missing := fmt.Sprintf(`<missingSet><path>%s</path><fault><fault xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"`+
		` xsi:type="NoPermission"><object type="%s">%s</object><privilegeId>System.Read</privilegeId></fault>`+
		`<localizedMessage>Permission to read %s was denied.</localizedMessage></fault></missingSet>`,
		esc(path), esc(kind), esc(id), esc(path))
	end := bytes.LastIndex(objects, []byte("</objects>"))
	return append(append(append([]byte{}, objects[:end]...), missing...), objects[end:]...)
}
