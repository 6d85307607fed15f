module keel-e2e-go-workflow

go 1.19

require github.com/keel-dev/keel/clients/go v0.0.0

replace github.com/keel-dev/keel/clients/go => ../../../../clients/go
