module crosslang/goworker

go 1.19

require github.com/keel-dev/keel/clients/go v0.0.0

replace github.com/keel-dev/keel/clients/go => ../../../go
