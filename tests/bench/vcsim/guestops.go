// Guest operations for the bench: a scripted guest behind VMware Tools' SOAP methods.
//
// govmomi's simulator runs guest programs in Docker containers, which the test machines do not have;
// without one it answers GuestOperationsUnavailable. The bench answers these methods itself instead,
// as a scripted guest that never runs anything but records every program, argument, environment
// variable and uploaded file, so tests can assert on exactly what vmrestore asked the guest to do:
//
//   - StartProgramInGuest: a new pid; the exit code (and text written to the file named by the
//     program's VMR_OUT variable) comes from the first rule of -guest-config whose "when" matches.
//   - ListProcessesInGuest: running until the rule's "seconds" passed, then endTime and exitCode.
//   - CreateTemporaryFileInGuest / DeleteFileInGuest / MakeDirectoryInGuest: a per-VM in-memory file table.
//   - InitiateFileTransferToGuest / FromGuest: an "https://*/guestFile?id=..." URL, as ESXi returns it
//     (the client replaces "*" with the server it called); the bench serves PUT (a sink that stores
//     the bytes in the file table) and GET (the file's bytes) on its own listener.
//
// -guest-config is re-read on every StartProgramInGuest, so a test can change the guest's answers
// between steps (e.g. "the letter is in use"). Format:
//
//	{"password": "only this guest password is accepted (optional)",
//	 "rules": [{"when": {"VMR_ACTION": "mount", "vm": "DC0_H0_VM0", "program": "powershell"},
//	            "exit": 10, "output": "text", "seconds": 0.5}]}
//
// "when" keys are environment variables of the program, plus "vm" (name) and "program" (substring of
// the program path). No rule matches: exit 0, no output. -tools-off NAME makes a VM's Tools not running
// (guest operations then answer GuestOperationsUnavailable); -guest-family NAME=linuxGuest sets its family.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io/ioutil"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

var (
	guestConfigPath = flag.String("guest-config", "", "JSON rules of the scripted guest (re-read per program)")
	guestRecordPath = flag.String("guest-record", "", "append one JSON line per guest operation to this file")
	toolsOff        listFlag
	guestFamilies   listFlag
)

func init() {
	flag.Var(&toolsOff, "tools-off", "VM name whose VMware Tools are not running, repeatable")
	flag.Var(&guestFamilies, "guest-family", "VMNAME=windowsGuest|linuxGuest, repeatable")
}

type guestRule struct {
	When    map[string]string `json:"when"`
	Exit    int32             `json:"exit"`
	Output  string            `json:"output"`
	Seconds float64           `json:"seconds"`
}

type guestConfig struct {
	Password string      `json:"password"`
	Rules    []guestRule `json:"rules"`
}

type guestProc struct {
	info types.GuestProcessInfo
	ends time.Time
	exit int32
}

type transfer struct {
	vm, path string
	upload   bool
}

// guestOps is the scripted guest of every VM.
type guestOps struct {
	mu        sync.Mutex
	names     map[string]string // VM moid -> name
	off       map[string]bool   // VM names whose Tools are not running
	procs     map[string]map[int64]*guestProc
	files     map[string]map[string][]byte // VM moid -> guest path -> bytes
	transfers map[string]transfer
	nextPid   int64
	nextID    int64
	record    *os.File
}

// newGuestOps learns the VMs and applies -tools-off / -guest-family; call after model.Create().
func newGuestOps() *guestOps {
	g := &guestOps{
		names: map[string]string{}, off: map[string]bool{}, procs: map[string]map[int64]*guestProc{},
		files: map[string]map[string][]byte{}, transfers: map[string]transfer{}, nextPid: 4000, nextID: 1,
	}
	families := map[string]string{}
	for _, f := range guestFamilies {
		parts := strings.SplitN(f, "=", 2)
		if len(parts) == 2 {
			families[parts[0]] = parts[1]
		}
	}
	for _, name := range toolsOff {
		g.off[name] = true
	}
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm := e.(*simulator.VirtualMachine)
		g.names[vm.Self.Value] = vm.Name
		if fam, ok := families[vm.Name]; ok {
			vm.Guest.GuestFamily = fam
			if fam == string(types.VirtualMachineGuestOsFamilyLinuxGuest) {
				vm.Guest.GuestId = string(types.VirtualMachineGuestOsIdentifierOtherLinux64Guest)
				vm.Summary.Guest.GuestId = vm.Guest.GuestId
			}
		}
		if g.off[vm.Name] {
			vm.Guest.ToolsStatus = types.VirtualMachineToolsStatusToolsNotRunning
			vm.Guest.ToolsRunningStatus = string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning)
			vm.Guest.GuestOperationsReady = types.NewBool(false)
			vm.Guest.InteractiveGuestOperationsReady = types.NewBool(false)
			vm.Summary.Guest.ToolsStatus = vm.Guest.ToolsStatus
			vm.Summary.Guest.ToolsRunningStatus = vm.Guest.ToolsRunningStatus
		}
	}
	if *guestRecordPath != "" {
		f, err := os.OpenFile(*guestRecordPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			g.record = f
		}
	}
	return g
}

func (g *guestOps) config() guestConfig {
	var c guestConfig
	if *guestConfigPath == "" {
		return c
	}
	data, err := ioutil.ReadFile(*guestConfigPath)
	if err == nil {
		_ = json.Unmarshal(data, &c)
	}
	return c
}

func (g *guestOps) log(entry map[string]interface{}) {
	if g.record == nil {
		return
	}
	entry["time"] = float64(time.Now().UnixNano()) / 1e9
	line, _ := json.Marshal(entry)
	_, _ = g.record.Write(append(line, '\n'))
}

// check answers the faults real Tools give before any operation: no Tools, VM off, wrong login.
func (g *guestOps) check(w http.ResponseWriter, vm types.ManagedObjectReference, auth types.BaseGuestAuthentication,
	cfg guestConfig) (string, bool) {
	name, known := g.names[vm.Value]
	if !known {
		writeFault(w, "The object has already been deleted or has not been completely created", "ManagedObjectNotFound",
			fmt.Sprintf(`<obj type="VirtualMachine">%s</obj>`, esc(vm.Value)))
		return "", false
	}
	if g.off[name] {
		writeFault(w, "The guest operations agent could not be contacted.", "GuestOperationsUnavailable", "")
		return "", false
	}
	obj, _ := simulator.Map.Get(vm).(*simulator.VirtualMachine)
	if obj != nil && (obj.Guest.GuestOperationsReady == nil || !*obj.Guest.GuestOperationsReady) {
		writeFault(w, "The guest operations agent could not be contacted.", "GuestOperationsUnavailable", "")
		return "", false
	}
	if obj != nil && obj.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		writeFault(w, "The attempted operation cannot be performed in the current state (Powered off).",
			"InvalidPowerState", "<requestedState>poweredOn</requestedState><existingState>poweredOff</existingState>")
		return "", false
	}
	creds, ok := auth.(*types.NamePasswordAuthentication)
	if !ok || creds.Username == "" || creds.Password == "" || (cfg.Password != "" && creds.Password != cfg.Password) {
		writeFault(w, "Failed to authenticate with the guest operating system using the supplied credentials.",
			"InvalidGuestLogin", "")
		return "", false
	}
	return name, true
}

// answer handles the guest-operation SOAP methods; false means "not mine, forward it".
func (g *guestOps) answer(w http.ResponseWriter, r *http.Request, m *simulator.Method) bool {
	cfg := g.config()
	g.mu.Lock()
	defer g.mu.Unlock()
	switch req := m.Body.(type) {
	case *types.StartProgramInGuest:
		name, ok := g.check(w, req.Vm, req.Auth, cfg)
		if !ok {
			return true
		}
		spec := req.Spec.GetGuestProgramSpec()
		env := map[string]string{}
		for _, kv := range spec.EnvVariables {
			if i := strings.Index(kv, "="); i > 0 {
				env[kv[:i]] = kv[i+1:]
			}
		}
		rule := guestRule{}
		for _, candidate := range cfg.Rules {
			if matches(candidate.When, env, name, spec.ProgramPath) {
				rule = candidate
				break
			}
		}
		g.nextPid++
		pid := g.nextPid
		now := time.Now().UTC()
		proc := &guestProc{
			info: types.GuestProcessInfo{Name: spec.ProgramPath, Pid: pid, Owner: userOf(req.Auth),
				CmdLine: strings.TrimSpace(spec.ProgramPath + " " + spec.Arguments), StartTime: now},
			ends: now.Add(time.Duration(rule.Seconds * float64(time.Second))),
			exit: rule.Exit,
		}
		if g.procs[req.Vm.Value] == nil {
			g.procs[req.Vm.Value] = map[int64]*guestProc{}
		}
		g.procs[req.Vm.Value][pid] = proc
		if out := env["VMR_OUT"]; out != "" && rule.Output != "" {
			g.fileTable(req.Vm.Value)[out] = []byte(rule.Output)
		}
		g.log(map[string]interface{}{"op": "start", "vm": name, "user": userOf(req.Auth), "pid": pid,
			"program": spec.ProgramPath, "arguments": spec.Arguments, "cwd": spec.WorkingDirectory,
			"env": spec.EnvVariables, "exit": rule.Exit})
		writeGuestResult(w, "StartProgramInGuestResponse", fmt.Sprintf("<returnval>%d</returnval>", pid))
		return true

	case *types.ListProcessesInGuest:
		if _, ok := g.check(w, req.Vm, req.Auth, cfg); !ok {
			return true
		}
		var out strings.Builder
		now := time.Now().UTC()
		for _, pid := range req.Pids {
			proc, ok := g.procs[req.Vm.Value][pid]
			if !ok {
				continue
			}
			info := proc.info
			fmt.Fprintf(&out, "<returnval><name>%s</name><pid>%d</pid><owner>%s</owner><cmdLine>%s</cmdLine>"+
				"<startTime>%s</startTime>", esc(info.Name), info.Pid, esc(info.Owner), esc(info.CmdLine),
				info.StartTime.Format(time.RFC3339Nano))
			if !now.Before(proc.ends) {
				fmt.Fprintf(&out, "<endTime>%s</endTime><exitCode>%d</exitCode>",
					proc.ends.Format(time.RFC3339Nano), proc.exit)
			}
			out.WriteString("</returnval>")
		}
		writeGuestResult(w, "ListProcessesInGuestResponse", out.String())
		return true

	case *types.CreateTemporaryFileInGuest:
		name, ok := g.check(w, req.Vm, req.Auth, cfg)
		if !ok {
			return true
		}
		dir := req.DirectoryPath
		if dir == "" {
			dir = `C:\Windows\Temp`
			if fam := guestFamily(req.Vm); fam == string(types.VirtualMachineGuestOsFamilyLinuxGuest) {
				dir = "/tmp"
			}
		}
		sep := `\`
		if strings.HasPrefix(dir, "/") {
			sep = "/"
		}
		g.nextID++
		path := strings.TrimRight(dir, `\/`) + sep + req.Prefix + strconv.FormatInt(g.nextID, 10) + req.Suffix
		g.fileTable(req.Vm.Value)[path] = []byte{}
		g.log(map[string]interface{}{"op": "mktemp", "vm": name, "path": path})
		writeGuestResult(w, "CreateTemporaryFileInGuestResponse", "<returnval>"+esc(path)+"</returnval>")
		return true

	case *types.DeleteFileInGuest:
		name, ok := g.check(w, req.Vm, req.Auth, cfg)
		if !ok {
			return true
		}
		files := g.fileTable(req.Vm.Value)
		if _, exists := files[req.FilePath]; !exists {
			writeFault(w, "File "+req.FilePath+" was not found", "FileNotFound",
				"<file>"+esc(req.FilePath)+"</file>")
			return true
		}
		delete(files, req.FilePath)
		g.log(map[string]interface{}{"op": "delete", "vm": name, "path": req.FilePath})
		writeGuestResult(w, "DeleteFileInGuestResponse", "")
		return true

	case *types.MakeDirectoryInGuest:
		name, ok := g.check(w, req.Vm, req.Auth, cfg)
		if !ok {
			return true
		}
		dirs := g.fileTable(req.Vm.Value)
		if _, exists := dirs[req.DirectoryPath+"/"]; exists {
			writeFault(w, "The file already exists: "+req.DirectoryPath, "FileAlreadyExists",
				"<file>"+esc(req.DirectoryPath)+"</file>")
			return true
		}
		dirs[req.DirectoryPath+"/"] = nil
		g.log(map[string]interface{}{"op": "mkdir", "vm": name, "path": req.DirectoryPath,
			"parents": req.CreateParentDirectories})
		writeGuestResult(w, "MakeDirectoryInGuestResponse", "")
		return true

	case *types.InitiateFileTransferToGuest:
		name, ok := g.check(w, req.Vm, req.Auth, cfg)
		if !ok {
			return true
		}
		if _, exists := g.fileTable(req.Vm.Value)[req.GuestFilePath]; exists && !req.Overwrite {
			writeFault(w, "The file already exists: "+req.GuestFilePath, "FileAlreadyExists",
				"<file>"+esc(req.GuestFilePath)+"</file>")
			return true
		}
		entry := map[string]interface{}{"op": "initiate_upload", "vm": name, "path": req.GuestFilePath,
			"size": req.FileSize, "overwrite": req.Overwrite}
		if req.FileAttributes != nil {
			if mt := req.FileAttributes.GetGuestFileAttributes().ModificationTime; mt != nil {
				entry["mtime"] = mt.UTC().Format(time.RFC3339)
			}
		}
		g.log(entry)
		id := g.newTransfer(transfer{vm: req.Vm.Value, path: req.GuestFilePath, upload: true})
		writeGuestResult(w, "InitiateFileTransferToGuestResponse",
			"<returnval>"+esc("https://*/guestFile?id="+id+"&token=bench")+"</returnval>")
		return true

	case *types.InitiateFileTransferFromGuest:
		name, ok := g.check(w, req.Vm, req.Auth, cfg)
		if !ok {
			return true
		}
		data, exists := g.fileTable(req.Vm.Value)[req.GuestFilePath]
		if !exists {
			writeFault(w, "File "+req.GuestFilePath+" was not found", "FileNotFound",
				"<file>"+esc(req.GuestFilePath)+"</file>")
			return true
		}
		g.log(map[string]interface{}{"op": "initiate_download", "vm": name, "path": req.GuestFilePath})
		id := g.newTransfer(transfer{vm: req.Vm.Value, path: req.GuestFilePath})
		writeGuestResult(w, "InitiateFileTransferFromGuestResponse", fmt.Sprintf(
			`<returnval><attributes xsi:type="GuestFileAttributes"></attributes><size>%d</size><url>%s</url></returnval>`,
			len(data), esc("https://*/guestFile?id="+id+"&token=bench")))
		return true
	}
	return false
}

// serveTransfer answers the /guestFile URLs: PUT stores an upload, GET returns a download.
func (g *guestOps) serveTransfer(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != "/guestFile" {
		return false
	}
	id := r.URL.Query().Get("id")
	g.mu.Lock()
	t, ok := g.transfers[id]
	if ok {
		delete(g.transfers, id) // a transfer URL is good for one request, as on ESXi
	}
	g.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return true
	}
	switch {
	case r.Method == http.MethodPut && t.upload:
		data, err := ioutil.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return true
		}
		sum := sha256.Sum256(data)
		g.mu.Lock()
		g.fileTable(t.vm)[t.path] = data
		g.log(map[string]interface{}{"op": "upload", "vm": g.names[t.vm], "path": t.path, "size": len(data),
			"sha256": hex.EncodeToString(sum[:]), "content": string(data)})
		g.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodGet && !t.upload:
		g.mu.Lock()
		data := g.fileTable(t.vm)[t.path]
		g.log(map[string]interface{}{"op": "download", "vm": g.names[t.vm], "path": t.path, "size": len(data)})
		g.mu.Unlock()
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		_, _ = w.Write(data)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
	return true
}

func (g *guestOps) newTransfer(t transfer) string {
	g.nextID++
	id := strconv.FormatInt(g.nextID, 10)
	g.transfers[id] = t
	return id
}

func (g *guestOps) fileTable(vm string) map[string][]byte {
	if g.files[vm] == nil {
		g.files[vm] = map[string][]byte{}
	}
	return g.files[vm]
}

func matches(when map[string]string, env map[string]string, vm, program string) bool {
	for k, v := range when {
		switch k {
		case "vm":
			if vm != v {
				return false
			}
		case "program":
			if !strings.Contains(strings.ToLower(program), strings.ToLower(v)) {
				return false
			}
		default:
			if env[k] != v {
				return false
			}
		}
	}
	return true
}

func userOf(auth types.BaseGuestAuthentication) string {
	if creds, ok := auth.(*types.NamePasswordAuthentication); ok {
		return creds.Username
	}
	return ""
}

func guestFamily(ref types.ManagedObjectReference) string {
	if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok {
		return vm.Guest.GuestFamily
	}
	return ""
}

// writeGuestResult answers a SOAP call with <name xmlns="urn:vim25">inner</name>.
func writeGuestResult(w http.ResponseWriter, name, inner string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, `%s<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"`+
		` xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema"`+
		` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><%s xmlns="urn:vim25">%s</%s>`+
		`</soapenv:Body></soapenv:Envelope>`, xml.Header, name, inner, name)
}
