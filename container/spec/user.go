package spec

import (
	"slices"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// resolveUser resolves Config.User ("", "user", "uid", "user:group",
// "uid:gid", ...) against the rootfs's /etc/passwd and /etc/group like
// Docker's getUser: the primary gid comes first in AdditionalGids, followed
// by the user's supplementary groups and HostConfig.GroupAdd.
func resolveUser(rootfs, userSpec string, groupAdd []string) (specs.User, error) {
	var u specs.User
	// Symlinks inside the image (e.g. /etc/passwd -> /usr/lib/passwd) are
	// resolved within the rootfs: an image cannot make us read host files.
	passwdPath, err := securejoin.SecureJoin(rootfs, "/etc/passwd")
	if err != nil {
		return u, err
	}
	groupPath, err := securejoin.SecureJoin(rootfs, "/etc/group")
	if err != nil {
		return u, err
	}
	execUser, err := user.GetExecUserPath(userSpec, nil, passwdPath, groupPath)
	if err != nil {
		return u, invalid(err)
	}
	var addGroups []int
	if len(groupAdd) > 0 {
		addGroups, err = user.GetAdditionalGroupsPath(groupAdd, groupPath)
		if err != nil {
			return u, invalid(err)
		}
		slices.Sort(addGroups) // GetAdditionalGroups returns map order
	}
	if execUser.Uid < 0 || execUser.Gid < 0 {
		return u, invalidf("invalid user %q: negative uid or gid", userSpec)
	}
	u.UID = uint32(execUser.Uid)
	u.GID = uint32(execUser.Gid)
	u.AdditionalGids = []uint32{u.GID}
	for _, g := range append(execUser.Sgids, addGroups...) {
		if g < 0 {
			return u, invalidf("invalid group id %d", g)
		}
		if !slices.Contains(u.AdditionalGids, uint32(g)) {
			u.AdditionalGids = append(u.AdditionalGids, uint32(g))
		}
	}
	return u, nil
}

// replaceOrAppendEnv is Docker's ReplaceOrAppendEnvValues: each override
// "K=V" replaces the default with the same key or is appended; an override
// "K" without "=" removes K.
func replaceOrAppendEnv(defaults, overrides []string) []string {
	cache := make(map[string]int, len(defaults))
	for i, e := range defaults {
		k, _, _ := cut(e)
		cache[k] = i
	}
	for _, value := range overrides {
		k, _, hasEq := cut(value)
		if !hasEq {
			// "K" alone: remove K if present.
			if i, ok := cache[k]; ok {
				defaults[i] = ""
			}
			continue
		}
		if i, ok := cache[k]; ok {
			defaults[i] = value
		} else {
			cache[k] = len(defaults)
			defaults = append(defaults, value)
		}
	}
	out := defaults[:0]
	for _, e := range defaults {
		if e != "" {
			out = append(out, e)
		}
	}
	return out
}

func cut(e string) (k, v string, ok bool) { return strings.Cut(e, "=") }
