package btrfs

import (
	"errors"
	"io/fs"
	"syscall"
)

// Sentinel errors for the branches callers take. ErrExist, ErrNotExist and
// ErrNotEmpty also match the kernel's EEXIST, ENOENT and ENOTEMPTY, so
// errors.Is works the same whether the check was ours or the kernel's.
var (
	ErrExist        = fs.ErrExist
	ErrNotExist     = fs.ErrNotExist
	ErrNotEmpty     = error(syscall.ENOTEMPTY)
	ErrNotBtrfs     = errors.New("not a btrfs filesystem")
	ErrNotTopLevel  = errors.New("not the top-level subvolume (subvolid=5)")
	ErrNotSubvolume = errors.New("not a subvolume")
	ErrMounted      = errors.New("subvolume is mounted")
	ErrProtected    = errors.New("subvolume is protected")
	ErrInvalidPath  = errors.New("invalid path")
)
