module coffer.dev/client

go 1.19
