// Command vcsim is vmrestore's test bench: govmomi's vCenter simulator behind a thin SOAP-level wrapper.
//
// The simulator itself answers almost everything. The wrapper only adds what the simulator lacks and the
// tests need (see shared/TESTING.md): NoPermission denials for chosen users and methods, CreateNasDatastore
// naming the datastore after the client's localPath (as real vSphere does) over a mapped local directory,
// a record of every SOAP method asked for, VMware Tools guest fields on every VM, and tasks created by
// a solution (TaskManager.CreateTask, tasks.go).
//
// On start it prints one JSON line {"url", "datastores", "pid"} on stdout, then serves until SIGINT/SIGTERM.
package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// denial answers Method with NoPermission(privilege) for sessions of User.
type denial struct {
	User, Method, Privilege string
}

// nasExport is one "remoteHost:/export=/local/dir" entry of -nas.
type nasExport struct {
	Host, Path, Local string
}

// bench is the SOAP-level wrapper around the simulator's HTTP handler.
type bench struct {
	next    http.Handler
	denials []denial
	nas     []nasExport
	nasRoot string // holds one symlink per NAS datastore: <nasRoot>/<name> -> mapped local dir

	guest   *guestOps // the scripted guest of every VM (guestops.go)

	mu      sync.Mutex
	users   map[string]string // session cookie -> user name, learnt from Login
	record  *os.File
	localRe *regexp.Regexp
}

func main() {
	var (
		listen                  = flag.String("listen", "127.0.0.1:0", "address to listen on")
		certFile                = flag.String("cert", "", "TLS certificate (PEM); empty means plain HTTP")
		keyFile                 = flag.String("key", "", "TLS private key (PEM)")
		username                = flag.String("username", "", "the only accepted user (empty: any non-empty user)")
		password                = flag.String("password", "", "password for -username")
		dc                      = flag.Int("dc", 1, "datacenters")
		cluster                 = flag.Int("cluster", 1, "clusters per datacenter")
		clusterHost             = flag.Int("host", 2, "hosts per cluster")
		standalone              = flag.Int("standalone-host", 0, "standalone hosts per datacenter")
		vms                     = flag.Int("vm", 2, "VMs per resource pool (per cluster and per standalone host)")
		datastores              = flag.Int("ds", 1, "local datastores (mounted on every host)")
		idle                    = flag.Duration("session-idle-timeout", 0, "expire sessions idle this long (0: never)")
		toolsRun                = flag.Bool("tools-running", false, "report VMware Tools running and guest operations ready on every VM")
		recordPath              = flag.String("record", "", "append one JSON line per SOAP request to this file")
		delays, denies, nasMaps listFlag
	)
	flag.Var(&delays, "delay", "Method=milliseconds, repeatable")
	flag.Var(&denies, "deny", "user:Method[:privilege], repeatable: answer NoPermission")
	flag.Var(&nasMaps, "nas", "remoteHost:/export=/local/dir, repeatable")
	flag.Parse()

	b := &bench{users: map[string]string{}, localRe: regexp.MustCompile(`<localPath>[^<]*</localPath>`)}
	for _, d := range denies {
		parts := strings.SplitN(d, ":", 3)
		if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			log.Fatalf("bad -deny %q: want user:Method[:privilege]", d)
		}
		dn := denial{User: parts[0], Method: parts[1], Privilege: "System.View"}
		if len(parts) == 3 && parts[2] != "" {
			dn.Privilege = parts[2]
		}
		b.denials = append(b.denials, dn)
	}
	for _, n := range nasMaps {
		eq := strings.Index(n, "=")
		colon := strings.Index(n, ":")
		if eq < 0 || colon < 0 || colon > eq {
			log.Fatalf("bad -nas %q: want remoteHost:/export=/local/dir", n)
		}
		local, err := filepath.Abs(n[eq+1:])
		if err != nil {
			log.Fatal(err)
		}
		b.nas = append(b.nas, nasExport{Host: n[:colon], Path: strings.TrimRight(n[colon+1:eq], "/"), Local: local})
	}
	if len(b.nas) > 0 {
		root, err := ioutil.TempDir("", "vcsim-nas-")
		if err != nil {
			log.Fatal(err)
		}
		b.nasRoot = root
		defer os.RemoveAll(root)
	}
	if *recordPath != "" {
		f, err := os.OpenFile(*recordPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		b.record = f
		defer f.Close()
	}

	model := simulator.VPX()
	model.Datacenter = *dc
	model.Cluster = *cluster
	model.ClusterHost = *clusterHost
	model.Host = *standalone
	model.Machine = *vms
	model.Datastore = *datastores
	if len(delays) > 0 {
		model.DelayConfig.MethodDelay = map[string]int{}
		for _, d := range delays {
			parts := strings.SplitN(d, "=", 2)
			ms, err := strconv.Atoi(parts[len(parts)-1])
			if len(parts) != 2 || err != nil {
				log.Fatalf("bad -delay %q: want Method=milliseconds", d)
			}
			model.DelayConfig.MethodDelay[parts[0]] = ms
		}
	}
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	defer model.Remove()
	simulator.SessionIdleTimeout = *idle

	if *toolsRun {
		for _, e := range simulator.Map.All("VirtualMachine") {
			vm := e.(*simulator.VirtualMachine)
			vm.Guest.ToolsStatus = types.VirtualMachineToolsStatusToolsOk
			vm.Guest.ToolsRunningStatus = string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
			vm.Guest.GuestOperationsReady = types.NewBool(true)
			vm.Guest.InteractiveGuestOperationsReady = types.NewBool(true)
			vm.Guest.GuestFamily = string(types.VirtualMachineGuestOsFamilyWindowsGuest)
			vm.Guest.GuestId = string(types.VirtualMachineGuestOsIdentifierWindows9Server64Guest)
			vm.Summary.Guest.ToolsStatus = vm.Guest.ToolsStatus
			vm.Summary.Guest.ToolsRunningStatus = vm.Guest.ToolsRunningStatus
			vm.Summary.Guest.GuestId = vm.Guest.GuestId
		}
	}

	b.guest = newGuestOps()

	u := &url.URL{Host: *listen}
	if *username != "" {
		u.User = url.UserPassword(*username, *password)
	}
	model.Service.Listen = u
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatal(err)
		}
		model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	server := model.Service.NewServer()
	// Nobody knows the port before the line below is printed, so swapping the handler here races nothing.
	b.next = server.Config.Handler
	server.Config.Handler = b

	dirs := map[string]string{}
	for _, e := range simulator.Map.All("Datastore") {
		ds := e.(*simulator.Datastore)
		dirs[ds.Name] = ds.Info.GetDatastoreInfo().Url
	}
	clean := *server.URL
	clean.User = nil
	out, _ := json.Marshal(map[string]interface{}{"url": clean.String(), "datastores": dirs, "pid": os.Getpid()})
	fmt.Println(string(out))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	server.Close()
}

// ServeHTTP reads the SOAP method, records it, answers denials itself and rewrites CreateNasDatastore;
// everything else goes to the simulator unchanged.
func (b *bench) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b.guest.serveTransfer(w, r) {
		return
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/sdk") {
		b.next.ServeHTTP(w, r)
		return
	}
	body, err := ioutil.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	method, err := simulator.UnmarshalBody(types.TypeFunc(), body)
	if err != nil {
		b.forward(w, r, body) // let the simulator answer its own parse error
		return
	}

	user := b.sessionUser(r)
	if login, ok := method.Body.(*types.Login); ok {
		user = login.UserName
	}
	b.log(method, user)

	for _, d := range b.denials {
		if d.User == user && d.Method == method.Name {
			writeFault(w, "Permission to perform this operation was denied.", "NoPermission",
				fmt.Sprintf(`<object type="%s">%s</object><privilegeId>%s</privilegeId>`,
					esc(method.This.Type), esc(method.This.Value), esc(d.Privilege)))
			return
		}
	}

	if b.guest.answer(w, r, method) { // guestops.go
		return
	}

	if b.answerTasks(w, method) { // tasks.go
		return
	}

	if b.answerInstant(w, method) { // instant.go
		return
	}

	if nas, ok := method.Body.(*types.CreateNasDatastore); ok {
		if body, ok = b.mapNas(w, nas, body); !ok {
			return
		}
	}

	if b.visibility(w, r, body, method.Name, user) { // visibility.go: hidden objects, missingSet
		return
	}
	b.forward(w, r, body)
	b.afterForward(method) // instant.go

	if method.Name == "Login" {
		// Learn which user the new session cookie belongs to, so that -deny applies per user.
		for _, c := range (&http.Response{Header: w.Header()}).Cookies() {
			if c.Name == soap.SessionCookieName {
				b.mu.Lock()
				b.users[c.Value] = user
				b.mu.Unlock()
			}
		}
	}
}

// mapNas points a mapped export's datastore at <nasRoot>/<localPath>, a symlink to the mapped directory,
// because the simulator names the datastore after the last element of localPath and needs a real directory.
func (b *bench) mapNas(w http.ResponseWriter, req *types.CreateNasDatastore, body []byte) ([]byte, bool) {
	spec := req.Spec
	for _, n := range b.nas {
		if n.Host != spec.RemoteHost || n.Path != strings.TrimRight(spec.RemotePath, "/") {
			continue
		}
		name := spec.LocalPath
		if name == "" || strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
			writeFault(w, "A specified parameter was not correct: spec.localPath", "InvalidArgument",
				"<invalidProperty>spec.localPath</invalidProperty>")
			return nil, false
		}
		link := filepath.Join(b.nasRoot, name)
		if err := os.Symlink(n.Local, link); err != nil && !os.IsExist(err) {
			writeFault(w, err.Error(), "HostConfigFault", "")
			return nil, false
		}
		repl := []byte("<localPath>" + esc(link) + "</localPath>")
		return b.localRe.ReplaceAllLiteral(body, repl), true
	}
	return body, true // unmapped: the simulator answers as it always does
}

func (b *bench) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	r.Body = ioutil.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	b.next.ServeHTTP(w, r)
}

func (b *bench) sessionUser(r *http.Request) string {
	c, err := r.Cookie(soap.SessionCookieName)
	if err != nil {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.users[c.Value]
}

func (b *bench) log(m *simulator.Method, user string) {
	if b.record == nil {
		return
	}
	line, _ := json.Marshal(map[string]interface{}{
		"method": m.Name,
		"user":   user,
		"this":   m.This.Type + ":" + m.This.Value,
		"time":   float64(time.Now().UnixNano()) / 1e9,
	})
	b.mu.Lock()
	defer b.mu.Unlock()
	_, _ = b.record.Write(append(line, '\n'))
}

// writeFault answers with a SOAP fault whose detail is a vim25 fault of the given kind, as vCenter does.
func writeFault(w http.ResponseWriter, message, kind, inner string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `%s<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"`+
		` xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema"`+
		` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>`+
		`<faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring><detail>`+
		`<%sFault xmlns="urn:vim25" xsi:type="%s">%s</%sFault></detail></soapenv:Fault></soapenv:Body>`+
		`</soapenv:Envelope>`, xml.Header, esc(message), kind, kind, inner, kind)
}

func esc(s string) string {
	var buf bytes.Buffer
	_ = xml.EscapeText(&buf, []byte(s))
	return buf.String()
}
