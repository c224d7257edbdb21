// Package undo rolls back a multi-step operation that failed or panicked
// half-way: each step that changed something pushes the step that reverses
// it, and a deferred Unwind runs them newest first unless the operation
// succeeded. A panic unwinds too (the API server recovers panics into 500s,
// but mounts, processes and records would otherwise stay behind), and goes
// on once the steps ran.
package undo

// Stack holds the reversing steps of one operation. The zero value is
// ready; it is not safe for concurrent use.
type Stack struct {
	steps []func()
}

// Push adds the step that reverses what the operation just did.
func (s *Stack) Push(step func()) { s.steps = append(s.steps, step) }

// Unwind runs the steps newest first when *errp is non-nil or a panic is
// under way, and re-panics after. It must be deferred directly, with the
// operation's named error result:
//
//	var u undo.Stack
//	defer u.Unwind(&err)
func (s *Stack) Unwind(errp *error) {
	p := recover()
	if p == nil && (errp == nil || *errp == nil) {
		return
	}
	for i := len(s.steps) - 1; i >= 0; i-- {
		s.steps[i]()
	}
	s.steps = nil
	if p != nil {
		panic(p)
	}
}
