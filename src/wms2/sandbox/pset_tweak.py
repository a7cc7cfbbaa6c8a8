"""PSet executed by ``cmsRun``: loads the request's PSet and applies the job's inputs (WMS2 tweak).

The wrapper passes ``WMS2_PSET`` (the request PSet) and ``WMS2_PSET_TWEAK`` (a JSON file written by
:func:`wms2.sandbox.cmsrun.write_tweak`).  Only ever run by cmsRun, where ``FWCore`` exists.
"""

import importlib.util
import json
import os

import FWCore.ParameterSet.Config as cms  # only available inside a CMSSW runtime

_spec = importlib.util.spec_from_file_location("wms2_request_pset", os.environ["WMS2_PSET"])
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
process = _module.process

with open(os.environ["WMS2_PSET_TWEAK"]) as _handle:
    _tweak = json.load(_handle)

process.maxEvents.input = cms.untracked.int32(_tweak.get("max_events", -1))
if _tweak.get("input_files"):
    process.source.fileNames = cms.untracked.vstring(*_tweak["input_files"])
    if _tweak.get("skip_events"):
        process.source.skipEvents = cms.untracked.uint32(_tweak["skip_events"])
    if _tweak.get("lumis"):
        process.source.lumisToProcess = cms.untracked.VLuminosityBlockRange(*_tweak["lumis"])
else:
    if _tweak.get("first_event"):
        process.source.firstEvent = cms.untracked.uint32(_tweak["first_event"])
    if _tweak.get("run"):
        process.source.firstRun = cms.untracked.uint32(_tweak["run"])
    if _tweak.get("first_lumi"):
        process.source.firstLuminosityBlock = cms.untracked.uint32(_tweak["first_lumi"])
process.options.numberOfThreads = cms.untracked.uint32(_tweak.get("threads", 1))
process.options.numberOfStreams = cms.untracked.uint32(0)
for _label, _file in _tweak.get("outputs", {}).items():
    if hasattr(process, _label):
        getattr(process, _label).fileName = cms.untracked.string(_file)
if _tweak.get("global_tag") and hasattr(process, "GlobalTag"):
    process.GlobalTag.globaltag = _tweak["global_tag"]
