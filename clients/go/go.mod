module github.com/keel-dev/keel/clients/go

go 1.19
