package btrfs

import (
	"errors"
	"fmt"
	"syscall"
)

// DeviceStats holds the persistent error counters of one device (`btrfs
// device stats`).
type DeviceStats struct {
	DevID          uint64
	Path           string
	WriteErrs      uint64
	ReadErrs       uint64
	FlushErrs      uint64
	CorruptionErrs uint64 // checksum, bytenr or content errors
	GenerationErrs uint64 // blocks that were not written
}

// DeviceStats returns the error counters of every device, by devid. The
// DEV_INFO and GET_DEV_STATS ioctls are unprivileged.
func (fs *FS) DeviceStats() ([]DeviceStats, error) {
	info, err := fs.info.Info()
	if err != nil {
		return nil, fmt.Errorf("device stats: filesystem info: %w", err)
	}
	var out []DeviceStats
	for id := uint64(0); id <= info.MaxID; id++ { // devid 0 is a replace target
		dev, err := fs.info.GetDevInfo(id)
		if errors.Is(err, syscall.ENODEV) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("device stats: device %d: %w", id, err)
		}
		st, err := fs.info.GetDevStats(id)
		if err != nil {
			return nil, fmt.Errorf("device stats: device %d (%s): %w", id, dev.Path, err)
		}
		out = append(out, DeviceStats{
			DevID:          id,
			Path:           dev.Path,
			WriteErrs:      st.WriteErrs,
			ReadErrs:       st.ReadErrs,
			FlushErrs:      st.FlushErrs,
			CorruptionErrs: st.CorruptionErrs,
			GenerationErrs: st.GenerationErrs,
		})
	}
	return out, nil
}
