@echo off
rem Keep only the SSH tunnel to OCI up, in this window (Ctrl-C stops it).
rem A thin shim over the launcher: `krx pc tunnel` through scripts\_pc_common.bat (the
rem repository's virtual environment, pc.env from the repository root; docs\pc-install.md).
setlocal
set "KRXA_VERB=tunnel"
set "KRXA_WHAT=the tunnel failed"
call "%~dp0_pc_common.bat" %*
endlocal & exit /b %errorlevel%
