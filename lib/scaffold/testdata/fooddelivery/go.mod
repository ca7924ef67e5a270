module github.com/threefactor/framework

go 1.26
