package tarexport

import (
	"testing"
)

// speculateAll makes every layer-like file worth a guess, for the test.
func speculateAll(t *testing.T) {
	old := speculateMinSize
	speculateMinSize = 1
	t.Cleanup(func() { speculateMinSize = old })
}

// With every layer-like file registered on the side while the archive is unpacked, Load's
// outcomes are the same: loads load, broken archives fail as invalid and leave nothing.
func TestLoadSpeculativeSameOutcomes(t *testing.T) {
	speculateAll(t)
	for name, test := range map[string]func(*testing.T){
		"BusyboxDockerSave":     TestLoadBusyboxDockerSave,
		"Layered":               TestLoadLayered,
		"RetagMessage":          TestLoadRetagMessage,
		"CompressedArchive":     TestLoadCompressedArchive,
		"Truncated":             TestLoadTruncated,
		"CorruptLayer":          TestLoadCorruptLayer,
		"WrongDiffID":           TestLoadWrongDiffID,
		"BadMetadata":           TestLoadBadMetadata,
		"UnsafePaths":           TestLoadUnsafePaths,
		"SymlinkedLayers":       TestLoadSymlinkedLayers,
		"WindowsImage":          TestLoadWindowsImage,
		"OCIIndexPicksPlatform": TestLoadOCIIndexPicksPlatform,
		"OCIAnnotations":        TestLoadOCIAnnotations,
		"Canceled":              TestLoadCanceled,
		"OSCheck":               TestLoadOSCheck,
	} {
		t.Run(name, test)
	}
}

// A base layer registered on the side is used: the layer file is read once.
func TestLoadSpeculativeReadsOnce(t *testing.T) {
	speculateAll(t)
	s := newFakeStore()
	loaded, progress, err := load(t, s, fixture(t, "busybox-docker-save.tar"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || loaded[0].ID != busyboxID {
		t.Fatalf("loaded %+v", loaded)
	}
	if s.reads != 1 || s.layerCount() != 1 || s.heldRefs() != 0 {
		t.Errorf("%d reads, %d layers, %d references held", s.reads, s.layerCount(), s.heldRefs())
	}
	lp := layerProgress(t, progress)
	if p, ok := lp["12ebd3379473"]; len(lp) != 1 || !ok || p.Current != p.Total || p.Total != 2007040 {
		t.Errorf("layer progress %+v", lp)
	}

	// In the legacy layout <id>/json tells the base layer: the top layers are not guessed on.
	s = newFakeStore()
	if _, _, err := load(t, s, fixture(t, "layered-docker-save.tar"), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if s.reads != 3 || s.layerCount() != 3 || s.heldRefs() != 0 {
		t.Errorf("layered: %d reads, %d layers, %d references held", s.reads, s.layerCount(), s.heldRefs())
	}

	// In an OCI layout a wrong guess is dropped.
	s = newFakeStore()
	if _, _, err := load(t, s, fixture(t, "layered-oci.tar"), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if s.reads > 4 || s.layerCount() != 3 || s.heldRefs() != 0 {
		t.Errorf("layered OCI: %d reads, %d layers, %d references held", s.reads, s.layerCount(), s.heldRefs())
	}
	// Loaded again, a guess (on a layer that is there already) changes nothing.
	if _, _, err := load(t, s, fixture(t, "layered-oci.tar"), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if s.layerCount() != 3 || s.heldRefs() != 0 {
		t.Errorf("layered OCI again: %d layers, %d references held", s.layerCount(), s.heldRefs())
	}
}
