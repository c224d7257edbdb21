package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	units "github.com/docker/go-units"
	"github.com/moby/go-archive"
	"github.com/moby/moby/client"
)

type cpOptions struct {
	source, destination string
	followLink          bool
	copyUIDGID          bool
	quiet               bool
}

// splitCpArg splits "container:path"; an absolute path, or one starting
// with "." before any colon, is local even if it contains a colon.
func splitCpArg(arg string) (ctr, path string) {
	if filepath.IsAbs(arg) || strings.HasPrefix(arg, string(os.PathSeparator)) {
		return "", arg
	}
	ctr, path, ok := strings.Cut(arg, ":")
	if !ok || strings.HasPrefix(ctr, ".") {
		return "", arg
	}
	return ctr, path
}

// runCp copies between a container and the host with docker cp's rules
// (go-archive's CopyInfo logic: a trailing "/" asserts a directory, "/."
// copies a directory's contents, a missing destination is created).
func runCp(ctx context.Context, api client.ContainerAPIClient, s streams, o cpOptions) error {
	srcCtr, srcPath := splitCpArg(o.source)
	dstCtr, dstPath := splitCpArg(o.destination)
	switch {
	case srcCtr != "" && dstCtr != "":
		return errors.New("copying between containers is not supported")
	case srcCtr != "":
		if srcPath == "" {
			return errors.New("source can not be empty")
		}
		return copyFromContainer(ctx, api, s, srcCtr, srcPath, dstPath, o)
	case dstCtr != "":
		if dstPath == "" {
			return errors.New("destination can not be empty")
		}
		return copyToContainer(ctx, api, s, dstCtr, srcPath, dstPath, o)
	}
	return errors.New("must specify at least one container source")
}

func resolveLocalPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return archive.PreserveTrailingDotOrSeparator(abs, p), nil
}

// validateOutputPath refuses a destination whose parent is missing, or
// that is neither a directory nor a regular file.
func validateOutputPath(path string) error {
	dir := filepath.Dir(filepath.Clean(path))
	if dir != "" && dir != "." {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return fmt.Errorf("invalid output path: directory %q does not exist", dir)
		}
	}
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if m := fi.Mode(); !m.IsDir() && !m.IsRegular() {
		if err := validateFileMode(m); err != nil {
			return fmt.Errorf("invalid output path: %q must be a directory or a regular file: %w", path, err)
		}
	}
	return nil
}

func validateFileMode(m os.FileMode) error {
	switch {
	case m&os.ModeDevice != 0:
		return errors.New("got a device")
	case m&os.ModeIrregular != 0:
		return errors.New("got an irregular file")
	}
	return nil
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// copySummary is docker cp's last line: the size of the tar stream that
// crossed the API, as docker 28 reports it.
func copySummary(transferred int64, dest string) string {
	return fmt.Sprintf("Successfully copied %s to %s\n", units.HumanSizeWithPrecision(float64(transferred), 3), dest)
}

func copyFromContainer(ctx context.Context, api client.ContainerAPIClient, s streams, ctr, srcPath, dstPath string, o cpOptions) error {
	if dstPath != "-" {
		p, err := resolveLocalPath(dstPath)
		if err != nil {
			return err
		}
		dstPath = p
		if err := validateOutputPath(dstPath); err != nil {
			return err
		}
	}
	var rebaseName string
	if o.followLink {
		st, err := api.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: srcPath})
		if err == nil && st.Stat.Mode&os.ModeSymlink != 0 {
			target := st.Stat.LinkTarget
			if !filepath.IsAbs(target) {
				parent, _ := archive.SplitPathDirEntry(srcPath)
				target = filepath.Join(parent, target)
			}
			target, rebaseName = archive.GetRebaseName(srcPath, target)
			srcPath = target
		}
	}
	res, err := api.CopyFromContainer(ctx, ctr, client.CopyFromContainerOptions{SourcePath: srcPath})
	if err != nil {
		return err
	}
	defer res.Content.Close()
	if dstPath == "-" {
		_, err := io.Copy(s.out, res.Content)
		return err
	}
	var copied atomic.Int64
	var content io.ReadCloser = countingReader{res.Content, &copied}
	info := archive.CopyInfo{Path: srcPath, Exists: true, IsDir: res.Stat.Mode.IsDir(), RebaseName: rebaseName}
	if rebaseName != "" {
		_, base := archive.SplitPathDirEntry(info.Path)
		content = archive.RebaseArchiveEntries(content, base, rebaseName)
	}
	if err := archive.CopyTo(content, info, dstPath); err != nil {
		return err
	}
	if !o.quiet {
		fmt.Fprint(s.err, copySummary(copied.Load(), dstPath))
	}
	return nil
}

func copyToContainer(ctx context.Context, api client.ContainerAPIClient, s streams, ctr, srcPath, dstPath string, o cpOptions) error {
	if srcPath != "-" {
		p, err := resolveLocalPath(srcPath)
		if err != nil {
			return err
		}
		srcPath = p
	}
	dstInfo := archive.CopyInfo{Path: dstPath}
	if st, err := api.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: dstPath}); err == nil {
		if st.Stat.Mode&os.ModeSymlink != 0 {
			target := st.Stat.LinkTarget
			if !filepath.IsAbs(target) {
				parent, _ := archive.SplitPathDirEntry(dstPath)
				target = filepath.Join(parent, target)
			}
			dstInfo.Path = target
			st, err = api.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: target})
		}
		if err == nil {
			if err := validateFileMode(st.Stat.Mode); err != nil {
				return fmt.Errorf(`destination "%s:%s" must be a directory or a regular file: %w`, ctr, dstPath, err)
			}
			dstInfo.Exists, dstInfo.IsDir = true, st.Stat.Mode.IsDir()
		}
	}

	var (
		content     io.ReadCloser
		resolvedDst string
		copied      atomic.Int64
	)
	if srcPath == "-" {
		if !dstInfo.IsDir {
			return fmt.Errorf(`destination "%s:%s" must be a directory`, ctr, dstPath)
		}
		content = io.NopCloser(s.in)
		resolvedDst = dstInfo.Path
	} else {
		srcInfo, err := archive.CopyInfoSourcePath(srcPath, o.followLink)
		if err != nil {
			return err
		}
		// Refuse what PrepareArchiveCopy would refuse before the tar is
		// started: closing it early makes its writer log a closed pipe.
		switch {
		case dstInfo.Exists && !dstInfo.IsDir && srcInfo.IsDir:
			return archive.ErrCannotCopyDir
		case !dstInfo.Exists && !srcInfo.IsDir && (strings.HasSuffix(dstInfo.Path, "/") || filepath.Base(dstInfo.Path) == "."):
			return archive.ErrDirNotExists
		}
		tarball, err := archive.TarResource(srcInfo)
		if err != nil {
			return err
		}
		defer tarball.Close()
		dstDir, prepared, err := archive.PrepareArchiveCopy(tarball, srcInfo, dstInfo)
		if err != nil {
			return err
		}
		defer prepared.Close()
		resolvedDst, content = dstDir, countingReader{prepared, &copied}
	}
	if _, err := api.CopyToContainer(ctx, ctr, client.CopyToContainerOptions{
		DestinationPath: resolvedDst,
		Content:         content,
		CopyUIDGID:      o.copyUIDGID,
	}); err != nil {
		return err
	}
	if !o.quiet && srcPath != "-" {
		fmt.Fprint(s.err, copySummary(copied.Load(), ctr+":"+dstInfo.Path))
	}
	return nil
}
