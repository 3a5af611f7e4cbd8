module kubegate.dev/bench/go-peer

go 1.26
