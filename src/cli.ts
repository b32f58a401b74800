#!/usr/bin/env node
console.log('vmpulse');
