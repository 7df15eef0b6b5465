"""The grading engine: intake, sandboxed jobs, the judge runner, gradebook, feedback, report
and the command line. Nothing in here knows the ResNet assignment; that is
:mod:`autograder.resnets`."""
