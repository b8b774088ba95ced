#!/bin/sh
for who in "$@"; do hello "$who"; done
