#!/bin/sh
touch /tmp/driftwatch-exec-ran
