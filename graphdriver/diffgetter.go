package graphdriver

// DiffGetter is implemented by drivers that keep a layer's own content
// (what ApplyDiff extracted into it) in a directory that can be read without
// mounting anything. The layer store reads regular files' content from it
// to reassemble a layer's original tar (see image/layer).
//
// The directory holds at least every regular file the layer's diff wrote,
// at its path in the diff, with the content the diff gave it; it may hold
// more (vfs keeps the parent's content too). It must not be written to.
type DiffGetter interface {
	// DiffPath returns the directory holding layer id's own content.
	DiffPath(id string) (string, error)
}
