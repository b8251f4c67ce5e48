@echo off
rem Stop exactly the KRX Alertor processes `start` started (PID files).
rem A thin shim over the launcher: `krx pc stop` from the repository's virtual
rem environment, with pc.env from the repository root when it exists (docs\pc-install.md).
chcp 65001 >nul
setlocal
set "ROOT=%~dp0.."
set "PY="
if defined VIRTUAL_ENV if exist "%VIRTUAL_ENV%\Scripts\python.exe" set "PY=%VIRTUAL_ENV%\Scripts\python.exe"
if not defined PY if exist "%ROOT%\.venv\Scripts\python.exe" set "PY=%ROOT%\.venv\Scripts\python.exe"
if not defined PY goto :novenv
if exist "%ROOT%\pc.env" goto :withenv
"%PY%" -m krx_cli.main pc stop %*
goto :done

:withenv
"%PY%" -m krx_cli.main pc stop --env-file "%ROOT%\pc.env" %*
goto :done

:done
if errorlevel 1 goto :failed
endlocal
exit /b 0

:novenv
where python >nul 2>nul
if errorlevel 1 goto :nopython
echo The virtual environment "%ROOT%\.venv" is missing. Create it once:
echo     cd /d "%ROOT%"
echo     python -m venv .venv
echo     .venv\Scripts\python -m pip install -e .
goto :failed

:nopython
echo Python was not found. Install Python 3.11 or newer from https://www.python.org/downloads/
echo (tick "Add python.exe to PATH"), then create the virtual environment (docs\pc-install.md).
goto :failed

:failed
echo.
echo KRX Alertor: stop failed. See the message above and docs\pc-install.md.
pause
endlocal
exit /b 1
