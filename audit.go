package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/kibubu/kibubu/wallet"
)

// tariffLoad names the tariff a wallet starts with, for the audit log: the
// file's SHA-256, or for the built-in tariff (no file) the SHA-256 of its
// JSON, so that a new binary with new built-in fees is recorded too.
func tariffLoad(file string, t wallet.Tariff) (wallet.TariffLoad, error) {
	var data []byte
	var err error
	if file == "" {
		file = "built-in"
		data, err = json.Marshal(t)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return wallet.TariffLoad{}, err
	}
	sum := sha256.Sum256(data)
	return wallet.TariffLoad{File: file, SHA256: hex.EncodeToString(sum[:])}, nil
}

// walletActor names this wallet process in the audit log.
func walletActor() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("wallet@%s pid %d", host, os.Getpid())
}
