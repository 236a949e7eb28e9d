package config_test

import (
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/gateway"
)

func init() { config.TestOptions = gateway.LoadOptions(false, nil) }
