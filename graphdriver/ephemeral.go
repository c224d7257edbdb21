package graphdriver

// EphemeralGetter is implemented by drivers that can mount a layer whose
// content need not survive a crash of the machine: the layer of a `run
// --rm` container, which is removed anyway (at its exit, or at the next
// start after a crash), and an init layer while the layer store writes its
// placeholder files. Such a mount skips every sync: an fsync from inside
// the container returns at once, and unmounting it does not flush the
// backing filesystem (overlay's unmount otherwise syncs the whole data
// root, 2-3 ms here, more once the container has written).
type EphemeralGetter interface {
	// GetEphemeral is Get for such a layer. A layer mounted already is
	// shared as it is mounted.
	GetEphemeral(id string) (dir string, err error)
}
