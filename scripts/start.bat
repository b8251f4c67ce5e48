@echo off
rem Start KRX Alertor on this PC: backend (with the SSH tunnel) and cockpit.
rem A thin shim over the launcher: `krx pc start` through scripts\_pc_common.bat (the
rem repository's virtual environment, pc.env from the repository root; docs\pc-install.md).
setlocal
set "KRXA_VERB=start"
set "KRXA_WHAT=start failed"
call "%~dp0_pc_common.bat" %*
endlocal & exit /b %errorlevel%
