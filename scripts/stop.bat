@echo off
rem Stop exactly the KRX Alertor processes `start` started (PID files).
rem A thin shim over the launcher: `krx pc stop` through scripts\_pc_common.bat (the
rem repository's virtual environment, pc.env from the repository root; docs\pc-install.md).
setlocal
set "KRXA_VERB=stop"
set "KRXA_WHAT=stop failed"
call "%~dp0_pc_common.bat" %*
endlocal & exit /b %errorlevel%
