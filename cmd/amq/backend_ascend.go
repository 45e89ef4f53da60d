package main

import (
	"fmt"
	"os"
	"strings"

	"amq/cann"
	"amq/quant"
)

// The Ascend backend. Devices come from --device/--devices, else from
// $AMQ_DEVICES ("0" or "0,1", for board scripts), else device 0.
func init() {
	registerBackend("ascend", func(opt backendOptions) (quant.Backend, error) {
		devs := opt.Devices
		if devs == nil {
			env := strings.TrimSpace(os.Getenv("AMQ_DEVICES"))
			if env == "" {
				env = "0"
			}
			var err error
			if devs, err = parseDevices(env); err != nil {
				return nil, fmt.Errorf("AMQ_DEVICES: %w", err)
			}
		}
		return cann.New(cann.Options{Devices: devs}), nil
	})
}
