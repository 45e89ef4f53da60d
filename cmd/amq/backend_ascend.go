package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"amq/cann"
	"amq/quant"
)

// The Ascend backend. Devices come from $AMQ_DEVICES ("0" or "0,1"); the
// commands' --device/--devices flags set the same variable (see
// parseDevices) so every command that takes --backend can use them.
func init() {
	registerBackend("ascend", func(opt backendOptions) (quant.Backend, error) {
		devs, err := parseDevices(os.Getenv("AMQ_DEVICES"))
		if err != nil {
			return nil, fmt.Errorf("AMQ_DEVICES: %w", err)
		}
		return cann.New(cann.Options{Devices: devs}), nil
	})
}

// parseDevices reads a device list such as "0,1"; "" means device 0.
func parseDevices(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return []int{0}, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("bad device id %q in %q", f, s)
		}
		out = append(out, d)
	}
	return out, nil
}
