// instant.go: what instant recovery needs from the bench that the simulator alone does not do.
//
//   - CreateNasDatastore: the simulator records no host mount for an NFS datastore; vSphere does, with the
//     access mode asked for. The bench adds it (readOnly / readWrite), so "reuse an exact read-only
//     mount" and "is this datastore writable" read what vSphere would answer.
//   - RelocateVM_Task with -relocate-moves: the simulator only changes the VM's "datastore" property. vSphere
//     moves the VM's files and, with diskMoveType moveAllDiskBackingsAndConsolidate, gives every disk a new
//     file on the target with no parent. The bench does that (files moved, parents untouched), so a test can
//     read the backings back. Without the flag the stock behaviour stays: a relocate that "succeeds" and moves
//     nothing, which the app must detect.
//   - -question-on-poweron: vSphere asks "moved or copied?" when a VM's identity looks copied, and the
//     power-on waits for the answer. The simulator never asks; with the flag the bench sets that question
//     after PowerOnVM_Task and answers AnswerVM itself (the simulator lacks it), keeping the chosen key in
//     the VM's extraConfig as "bench.answer" so a test can read which answer the app gave.
package main

import (
	"flag"
	"fmt"
	"io/ioutil"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

var (
	relocateMoves = flag.Bool("relocate-moves", false,
		"RelocateVM_Task moves the VM's files and disk backings to the target datastore as vSphere does")
	questionOnPowerOn = flag.Bool("question-on-poweron", false,
		"after PowerOnVM_Task the VM asks the 'moved or copied' question; AnswerVM answers it")
)

// answerInstant answers the methods the simulator lacks (AnswerVM); true when it wrote the response.
func (b *bench) answerInstant(w http.ResponseWriter, m *simulator.Method) bool {
	req, ok := m.Body.(*types.AnswerVM)
	if !ok {
		return false
	}
	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		writeFault(w, "The object has already been deleted or has not been completely created",
			"ManagedObjectNotFound", "")
		return true
	}
	answered := false
	simulator.Map.WithLock(vm, func() {
		q := vm.Runtime.Question
		if q == nil || q.Id != req.QuestionId {
			return
		}
		vm.Runtime.Question = nil
		vm.Config.ExtraConfig = append(vm.Config.ExtraConfig, &types.OptionValue{Key: "bench.answer", Value: req.AnswerChoice})
		answered = true
	})
	if !answered {
		writeFault(w, "A specified parameter was not correct: questionId", "InvalidArgument",
			"<invalidProperty>questionId</invalidProperty>")
		return true
	}
	writeResult(w, "AnswerVMResponse", nil)
	return true
}

func askMovedOrCopied(this types.ManagedObjectReference) {
	vm, ok := simulator.Map.Get(this).(*simulator.VirtualMachine)
	if !ok {
		return
	}
	choice := func(key, label string) types.BaseElementDescription {
		return &types.ElementDescription{Key: key, Description: types.Description{Label: label, Summary: label}}
	}
	simulator.Map.WithLock(vm, func() {
		vm.Runtime.Question = &types.VirtualMachineQuestionInfo{
			Id:   "bench-q-" + vm.Self.Value,
			Text: "This virtual machine might have been moved or copied.",
			Choice: types.ChoiceOption{
				ChoiceInfo: []types.BaseElementDescription{
					choice("button.uuid.cancel", "Cancel"), choice("button.uuid.movedTheVM", "I _moved it"),
					choice("button.uuid.copiedTheVM", "I _copied it"),
				},
				DefaultIndex: 0,
			},
		}
	})
}

// afterForward runs once the simulator answered a request (tasks complete inside the call).
func (b *bench) afterForward(m *simulator.Method) {
	switch req := m.Body.(type) {
	case *types.CreateNasDatastore:
		recordNasMount(m.This, req)
	case *types.RelocateVM_Task:
		if *relocateMoves {
			relocateFiles(req)
		}
	case *types.PowerOnVM_Task:
		if *questionOnPowerOn {
			askMovedOrCopied(req.This)
		}
	}
}

func recordNasMount(this types.ManagedObjectReference, req *types.CreateNasDatastore) {
	dss, ok := simulator.Map.Get(this).(*simulator.HostDatastoreSystem)
	if !ok || dss.Host == nil {
		return
	}
	e := simulator.Map.FindByName(path.Base(req.Spec.LocalPath), dss.Datastore)
	ds, ok := e.(*simulator.Datastore)
	if !ok {
		return
	}
	mode := req.Spec.AccessMode
	if mode == "" {
		mode = string(types.HostMountModeReadWrite)
	}
	simulator.Map.WithLock(ds, func() {
		ds.Host = append(ds.Host, types.DatastoreHostMount{
			Key: dss.Host.Self,
			MountInfo: types.HostMountInfo{
				Path: req.Spec.LocalPath, AccessMode: mode,
				Mounted: types.NewBool(true), Accessible: types.NewBool(true),
			},
		})
	})
}

func datastoreByName(name string) *simulator.Datastore {
	for _, e := range simulator.Map.All("Datastore") {
		if ds := e.(*simulator.Datastore); ds.Name == name {
			return ds
		}
	}
	return nil
}

// local resolves "[ds] dir/file" to the simulator's file.
func local(p string) (string, string) {
	if !strings.HasPrefix(p, "[") || !strings.Contains(p, "]") {
		return "", ""
	}
	name := p[1:strings.Index(p, "]")]
	rel := strings.TrimSpace(p[strings.Index(p, "]")+1:])
	ds := datastoreByName(name)
	if ds == nil {
		return name, ""
	}
	return name, filepath.Join(ds.Info.GetDatastoreInfo().Url, rel)
}

func moveFile(from, to string) {
	data, err := ioutil.ReadFile(from)
	if err != nil {
		data = nil
	}
	_ = os.MkdirAll(filepath.Dir(to), 0o700)
	_ = ioutil.WriteFile(to, data, 0o600)
	_ = os.Remove(from)
}

func relocateFiles(req *types.RelocateVM_Task) {
	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok || req.Spec.Datastore == nil {
		return
	}
	target, ok := simulator.Map.Get(*req.Spec.Datastore).(*simulator.Datastore)
	if !ok {
		return
	}
	consolidate := req.Spec.DiskMoveType == string(types.VirtualMachineRelocateDiskMoveOptionsMoveAllDiskBackingsAndConsolidate)
	simulator.Map.WithLock(vm, func() {
		folder := vm.Name
		for _, d := range vm.Config.Hardware.Device {
			disk, ok := d.(*types.VirtualDisk)
			if !ok {
				continue
			}
			backing, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
			if !ok {
				continue
			}
			name := path.Base(strings.TrimSpace(backing.FileName[strings.Index(backing.FileName, "]")+1:]))
			newPath := fmt.Sprintf("[%s] %s/%s", target.Name, folder, name)
			if newPath == backing.FileName {
				continue
			}
			_, from := local(backing.FileName)
			_, to := local(newPath)
			for _, pair := range [][2]string{{from, to}, {strings.Replace(from, ".vmdk", "-flat.vmdk", 1),
				strings.Replace(to, ".vmdk", "-flat.vmdk", 1)}} {
				if pair[0] != "" && pair[1] != "" {
					moveFile(pair[0], pair[1])
				}
			}
			backing.FileName = newPath
			backing.Datastore = &target.Self
			if consolidate {
				backing.Parent = nil // the parents' data is copied into the new disk; the parents stay where they were
			}
		}
		// The VM's own folder (.vmx, .nvram, logs) moves too.
		_, oldVmx := local(vm.Config.Files.VmPathName)
		newVmx := fmt.Sprintf("[%s] %s/%s.vmx", target.Name, folder, vm.Name)
		if oldVmx != "" && newVmx != vm.Config.Files.VmPathName {
			_, to := local(newVmx)
			if entries, err := ioutil.ReadDir(filepath.Dir(oldVmx)); err == nil {
				for _, f := range entries {
					if !f.IsDir() {
						moveFile(filepath.Join(filepath.Dir(oldVmx), f.Name()), filepath.Join(filepath.Dir(to), f.Name()))
					}
				}
			}
			_ = os.Remove(filepath.Dir(oldVmx))
			dir := fmt.Sprintf("[%s] %s", target.Name, folder)
			vm.Config.Files.VmPathName = newVmx
			vm.Config.Files.LogDirectory = dir
			vm.Config.Files.SnapshotDirectory = dir
			vm.Config.Files.SuspendDirectory = dir
			vm.Summary.Config.VmPathName = newVmx
		}
		vm.Datastore = []types.ManagedObjectReference{target.Self}
	})
	for _, e := range simulator.Map.All("Datastore") {
		ds := e.(*simulator.Datastore)
		simulator.Map.WithLock(ds, func() {
			kept := ds.Vm[:0]
			for _, ref := range ds.Vm {
				if ref != vm.Self {
					kept = append(kept, ref)
				}
			}
			ds.Vm = kept
			if ds.Self == target.Self {
				ds.Vm = append(ds.Vm, vm.Self)
			}
		})
	}
}
