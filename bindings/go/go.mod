module liblb.dev/liblb

go 1.19
