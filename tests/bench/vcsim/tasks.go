package main

// tasks.go: TaskManager.CreateTask and Task.SetTaskState, which the simulator lacks (it answers
// MethodNotFound). vSphere solutions, backup products among them, create their own tasks on an entity
// this way; a queued or running task then shows in that entity's recentTask until it ends. vmrestore
// reads recentTask (and each task's info.state) to hold back a snapshot cleanup while a backup runs,
// so tests create such a task here, on the real simulator objects the property collector reads.

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
	vxml "github.com/vmware/govmomi/vim25/xml"
)

// answerTasks answers CreateTask and SetTaskState itself; false means "not mine, forward it".
func (b *bench) answerTasks(w http.ResponseWriter, method *simulator.Method) bool {
	switch req := method.Body.(type) {
	case *types.CreateTask:
		obj := simulator.Map.Get(req.Obj)
		if obj == nil {
			writeFault(w, "The object has already been deleted or has not been completely created",
				"ManagedObjectNotFound", fmt.Sprintf(`<obj type="%s">%s</obj>`, esc(req.Obj.Type), esc(req.Obj.Value)))
			return true
		}
		task := simulator.CreateTask(obj, req.TaskTypeId, nil) // registered, state queued
		now := time.Now()
		simulator.Map.Update(task, []types.PropertyChange{
			{Name: "info.descriptionId", Val: req.TaskTypeId},
			{Name: "info.name", Val: req.TaskTypeId},
			{Name: "info.cancelable", Val: req.Cancelable},
			{Name: "info.reason", Val: &types.TaskReasonUser{UserName: req.InitiatedBy}},
			{Name: "info.startTime", Val: now},
			{Name: "info.state", Val: types.TaskInfoStateRunning},
		})
		if e, ok := obj.(mo.Entity); ok {
			simulator.Map.WithLock(obj, func() {
				recent := append(append([]types.ManagedObjectReference{}, e.Entity().RecentTask...), task.Self)
				simulator.Map.Update(obj, []types.PropertyChange{{Name: "recentTask", Val: recent}})
			})
		}
		writeResult(w, "CreateTaskResponse", &types.CreateTaskResponse{Returnval: task.Info})
		return true
	case *types.SetTaskState:
		obj := simulator.Map.Get(req.This)
		task, ok := obj.(*simulator.Task)
		if !ok {
			writeFault(w, "The object has already been deleted or has not been completely created",
				"ManagedObjectNotFound", fmt.Sprintf(`<obj type="Task">%s</obj>`, esc(req.This.Value)))
			return true
		}
		changes := []types.PropertyChange{{Name: "info.state", Val: req.State}}
		if req.State == types.TaskInfoStateSuccess || req.State == types.TaskInfoStateError {
			// The task stays in the entity's recentTask, as on vCenter; only its state says it ended.
			changes = append(changes, types.PropertyChange{Name: "info.completeTime", Val: time.Now()})
		}
		simulator.Map.Update(task, changes)
		writeResult(w, "SetTaskStateResponse", nil)
		return true
	}
	return false
}

// writeResult answers with a SOAP envelope holding one vim25 response element (nil: an empty one).
func writeResult(w http.ResponseWriter, name string, res interface{}) {
	var out bytes.Buffer
	out.WriteString(vxml.Header)
	out.WriteString(`<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"` +
		` xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema"` +
		` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>`)
	if res == nil {
		fmt.Fprintf(&out, `<%s xmlns="urn:vim25"></%s>`, name, name)
	} else {
		enc := vxml.NewEncoder(&out)
		start := vxml.StartElement{Name: vxml.Name{Space: "urn:vim25", Local: name}}
		if err := enc.EncodeElement(res, start); err != nil {
			writeFault(w, err.Error(), "SystemError", "")
			return
		}
		_ = enc.Flush()
	}
	out.WriteString(`</soapenv:Body></soapenv:Envelope>`)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out.Bytes())
}
