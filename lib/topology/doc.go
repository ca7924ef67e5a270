// Package topology declares an app's tables, functions and routes as plain
// data. The dev runtime provisions a local emulator from it and infra/ turns
// it into CDK, so local and cloud are built from one description.
package topology
