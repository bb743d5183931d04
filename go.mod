module github.com/shoalhq/shoal

go 1.26
